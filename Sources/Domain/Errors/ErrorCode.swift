/// The codes of error answers: every failure a client can see has one of these. They share one
/// numbering with the validation issues' `IssueCode`s (`CodeCatalog`), so no code means two things.
public enum ErrorCode: String, Sendable, CaseIterable {
    case validationFailed = "AMS-100"
    case nameConflict = "AMS-102"
    case malformedBody = "AMS-109"
    case bodyTooLarge = "AMS-110"
    case unsupportedMediaType = "AMS-111"
    case methodNotAllowed = "AMS-310"
    case missingToken = "AMS-201"
    case invalidToken = "AMS-202"
    case expiredToken = "AMS-203"
    case forbidden = "AMS-204"
    case missingTenantHeader = "AMS-205"
    case tenantMismatch = "AMS-206"
    case quotaReached = "AMS-207"
    case rateLimited = "AMS-208"
    case invalidTenantHeader = "AMS-209"
    case routeNotFound = "AMS-300"
    case agentNotFound = "AMS-301"
    case versionNotFound = "AMS-302"
    case templateNotFound = "AMS-303"
    case agentNotActive = "AMS-304"
    case invalidTransition = "AMS-305"
    case preconditionFailed = "AMS-306"
    case idempotencyConflict = "AMS-307"
    case taskNotFound = "AMS-308"
    case aliasNotFound = "AMS-309"
    case webhookNotFound = "AMS-311"
    case upgradeRequired = "AMS-312"
    case internalError = "AMS-501"
    case databaseUnavailable = "AMS-502"
    case queueUnavailable = "AMS-503"

    public var httpStatus: Int {
        switch self {
        case .validationFailed, .malformedBody, .missingTenantHeader, .invalidTenantHeader: 400
        case .missingToken, .invalidToken, .expiredToken: 401
        case .forbidden, .tenantMismatch, .quotaReached: 403
        case .routeNotFound, .agentNotFound, .versionNotFound, .aliasNotFound, .templateNotFound, .taskNotFound, .webhookNotFound: 404
        case .nameConflict, .invalidTransition, .idempotencyConflict, .agentNotActive: 409
        case .preconditionFailed: 412
        case .bodyTooLarge: 413
        case .unsupportedMediaType: 415
        case .upgradeRequired: 426
        case .methodNotAllowed: 405
        case .internalError: 500
        case .databaseUnavailable, .queueUnavailable: 503
        case .rateLimited: 429
        }
    }
}
