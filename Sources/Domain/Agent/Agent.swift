public import Foundation

public typealias TenantID = String

/// A stored agent: its configuration plus what the service assigns.
public struct Agent: Sendable, Hashable, Identifiable {
    public var id: UUID
    public var tenantID: TenantID
    /// The configuration version: what `ETag` and `If-Match` carry, and what versions list.
    public var version: Int
    /// Bumped by every write of the row, status changes and deletes included (which keep `version`):
    /// what change notices carry and caches compare.
    public var revision: Int
    /// The template the agent was created from, and its version then.
    public var templateID: String?
    public var templateVersion: Int?
    public var config: AgentConfig
    public var validation: ValidationReport
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: String
    public var updatedBy: String

    public init(
        id: UUID,
        tenantID: TenantID,
        version: Int,
        config: AgentConfig,
        validation: ValidationReport,
        createdAt: Date,
        updatedAt: Date,
        createdBy: String,
        updatedBy: String,
        revision: Int? = nil,
        templateID: String? = nil,
        templateVersion: Int? = nil
    ) {
        self.templateID = templateID
        self.templateVersion = templateVersion
        self.id = id
        self.tenantID = tenantID
        self.version = version
        self.revision = revision ?? version
        self.config = config
        self.validation = validation
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }
}
