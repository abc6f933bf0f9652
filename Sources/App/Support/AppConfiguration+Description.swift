/// Every setting, for logs and debugging, with the secrets and the URLs' passwords redacted: the default
/// description of a struct would print them.
extension AppConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// Settings shown only as set or not; a new secret setting belongs here.
    static let secretSettings: Set<String> = ["jwtSecret", "serviceJWTSecret", "serviceToken"]
    static let redacted = "<redacted>"

    var description: String {
        let settings = Mirror(reflecting: self).children.compactMap { child -> String? in
            guard let label = child.label else { return nil }
            return "\(label): \(Self.shown(label, child.value))"
        }
        return "AppConfiguration(" + settings.joined(separator: ", ") + ")"
    }

    var debugDescription: String { description }

    private static func shown(_ label: String, _ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        let unwrapped: Any? = mirror.displayStyle == .optional ? mirror.children.first?.value : value
        guard let unwrapped else { return "nil" }
        let text = "\(unwrapped)"
        if secretSettings.contains(label) { return text.isEmpty ? "" : redacted }
        return label.hasSuffix("URL") ? redactingPassword(text) : text
    }

    /// `scheme://user:<redacted>@host…`; userinfo without a colon is all redacted, as Redis reads it as a password.
    static func redactingPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authority = url[scheme.upperBound...].prefix { !"/?#".contains($0) }
        guard let at = authority.lastIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        let user = userinfo.firstIndex(of: ":").map { String(userinfo[..<$0]) + ":" } ?? ""
        return url[..<scheme.upperBound] + user + redacted + url[at...]
    }
}
