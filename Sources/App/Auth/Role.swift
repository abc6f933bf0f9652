/// Token roles. `service` is for platform services: it names the tenant per request and may do
/// everything a tenant admin may, plus `/internal/*`.
enum Role: String, Sendable, CaseIterable {
    case viewer, editor, admin, service
}

/// What a route needs; each role grants the permissions of those below it.
enum Permission: Sendable {
    case read, write, admin

    func granted(by roles: Set<Role>) -> Bool {
        switch self {
        case .read: !roles.isEmpty
        case .write: roles.contains(.editor) || roles.contains(.admin) || roles.contains(.service)
        case .admin: roles.contains(.admin) || roles.contains(.service)
        }
    }
}
