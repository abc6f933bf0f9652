import Yams

/// The keys a configuration file may use, checked on the composed YAML before decoding: decoders
/// silently drop unknown keys, so a typo such as `max_agentz` would otherwise load as a default.
indirect enum YAMLShape: Sendable {
    /// Anything: a scalar or a value the decoder checks on its own.
    case any
    /// A mapping with exactly these keys allowed.
    case fields([String: YAMLShape])
    /// A mapping whose keys are data (tier names); every value has the same shape.
    case entries(YAMLShape)
    case list(YAMLShape)

    /// A mapping of the given keys whose values are not looked into.
    static func fields(_ names: some Sequence<String>) -> YAMLShape {
        .fields(Dictionary(names.map { ($0, YAMLShape.any) }, uniquingKeysWith: { first, _ in first }))
    }

    /// Throws for the first unknown key in document order, naming its path and 1-based line, e.g.
    /// `config/tiers.yaml: tiers.free.max_agentz: unknown key (line 4)`. Values of the wrong kind are
    /// left to the decoder, whose messages already name them.
    func check(_ node: Node, at path: String = "", source: String) throws(ConfigurationError) {
        switch (self, node) {
        case (.fields(let allowed), .mapping(let mapping)):
            for (key, value) in mapping {
                let name = key.scalar?.string ?? "\(key)"
                // `<<` merges another mapping in; what it brings was checked where it is written.
                guard name != "<<" else { continue }
                let keyPath = path.isEmpty ? name : "\(path).\(name)"
                guard let shape = allowed[name] else {
                    throw ConfigurationError("\(source): \(keyPath): unknown key" + (key.mark.map { " (line \($0.line))" } ?? ""))
                }
                try shape.check(value, at: keyPath, source: source)
            }
        case (.entries(let shape), .mapping(let mapping)):
            for (key, value) in mapping {
                let name = key.scalar?.string ?? "\(key)"
                try shape.check(value, at: path.isEmpty ? name : "\(path).\(name)", source: source)
            }
        case (.list(let shape), .sequence(let items)):
            for (i, item) in items.enumerated() {
                try shape.check(item, at: "\(path)[\(i)]", source: source)
            }
        default:
            break
        }
    }
}
