import Configuration
import Foundation
import Infra

/// Reads one `AMS_…` variable at a time through a `ConfigReader`, each as text parsed here: the reader's own
/// typed getters fall back to the default on a bad value, and the service must refuse it with a message naming it.
struct ConfigVariables {
    let reader: ConfigReader

    /// The value as set; an empty value counts as set.
    func string(_ name: String, isSecret: Bool = false) -> String? {
        reader.string(forKey: ConfigKey([name]), isSecret: isSecret)
    }

    /// The value, or `nil` when it is unset or empty.
    func nonEmpty(_ name: String, isSecret: Bool = false) -> String? {
        string(name, isSecret: isSecret).flatMap { $0.isEmpty ? nil : $0 }
    }

    func int(_ name: String) throws -> Int? {
        try string(name).map { try AppConfiguration.int($0, name) }
    }

    func flag(_ name: String) throws -> Bool? {
        try string(name).map { try AppConfiguration.flag($0, name) }
    }

    func duration(_ name: String) throws -> Duration? {
        try string(name).map { try AppConfiguration.duration($0, name) }
    }

    /// A claim name, or a dotted path into nested objects (`realm_access.roles`).
    func claimPath(_ name: String) throws -> ClaimPath? {
        try nonEmpty(name).map { text in
            guard let path = ClaimPath(text) else {
                throw ConfigurationError("\(name): not a claim name or a dotted path such as realm_access.roles: '\(text)'")
            }
            return path
        }
    }

    /// A value that must be one of `T`'s raw values (after `lowercased`, for case-blind names).
    func choice<T: RawRepresentable<String>>(_ name: String, lowercased: Bool = false, else message: (String) -> String) throws -> T? {
        try string(name).map { text in
            guard let value = T(rawValue: lowercased ? text.lowercased() : text) else { throw ConfigurationError("\(name): \(message(text))") }
            return value
        }
    }

    /// A secret from `name`, or from the file named by `name_FILE` (its content, trailing newlines
    /// trimmed); `nil` if neither is set. An empty variable counts as unset. Setting both, or naming
    /// a file that cannot be read or is empty, is a configuration error.
    func secret(_ name: String) throws -> String? {
        let fileName = name + "_FILE"
        switch (nonEmpty(name, isSecret: true), nonEmpty(fileName)) {
        case (.some, .some):
            throw ConfigurationError("\(name) and \(fileName) are both set: set only one")
        case (let value?, nil):
            return value
        case (nil, let path?):
            guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError("\(fileName): cannot read '\(path)' as UTF-8 text")
            }
            while let last = text.last, last.isNewline { text.removeLast() }
            guard !text.isEmpty else { throw ConfigurationError("\(fileName): '\(path)' is empty") }
            return text
        case (nil, nil):
            return nil
        }
    }
}
