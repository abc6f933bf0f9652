/// The codes of individual validation issues (inside `details.issues` and validation reports).
/// Open, because stored reports are read back whatever a release wrote; the ones this release
/// reports are `allCases`, numbered in the one catalog shared with `ErrorCode` (`CodeCatalog`).
public struct IssueCode: RawRepresentable, Sendable, Hashable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let required = Self(rawValue: "AMS-101")
    public static let outOfRange = Self(rawValue: "AMS-103")
    public static let invalidValue = Self(rawValue: "AMS-104")
    public static let tierLimit = Self(rawValue: "AMS-105")
    public static let notAllowedForTier = Self(rawValue: "AMS-106")
    public static let quota = Self(rawValue: "AMS-107")
    public static let toolReference = Self(rawValue: "AMS-108")
    public static let secretDetected = Self(rawValue: "AMS-112")
    public static let ruleViolated = Self(rawValue: "AMS-113")
    public static let advisory = Self(rawValue: "AMS-114")

    public static let allCases: [IssueCode] = [
        .required, .outOfRange, .invalidValue, .tierLimit, .notAllowedForTier, .quota, .toolReference, .secretDetected, .ruleViolated,
        .advisory,
    ]
}
