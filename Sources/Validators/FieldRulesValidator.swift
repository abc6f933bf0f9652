public import Domain

/// The per-field rules of the agent resource, plus advisories that are warnings, not errors.
public struct FieldRulesValidator: AgentValidator {
    public let id = "field-rules"
    public static let metadataLimit = 16 * 1024

    public init() {}

    public func validate(_ c: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        // Lengths count Unicode code points, as JSON Schema's maxLength does (and as Postgres does).
        let nameLength = c.name.unicodeScalars.count
        // A name of only whitespace (any Unicode kind) shows as blank in every list: as good as none.
        let blank = c.name.allSatisfy(\.isWhitespace)
        if blank {
            issues.append(
                .error(
                    .required,
                    "/name",
                    nameLength == 0 ? "name is required" : "name must not be only whitespace",
                    suggestion: "Give the agent a name of 1–100 characters"
                )
            )
        } else if nameLength > 100 {
            issues.append(.error(.outOfRange, "/name", "name has \(nameLength) characters; at most 100 are allowed"))
        }
        if !blank, c.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            issues.append(.error(.invalidValue, "/name", "name must not contain control characters"))
        }
        if let description = c.description, description.unicodeScalars.count > 2000 {
            issues.append(
                .error(
                    .outOfRange,
                    "/description",
                    "description has \(description.unicodeScalars.count) characters; at most 2000 are allowed"
                )
            )
        }
        issues += Self.oneOf(c.type, at: "/type")
        issues += Self.oneOf(c.status, at: "/status")
        issues += llm(c.llmConfig)
        issues += memory(c.memoryConfig)
        for (i, tool) in c.tools.enumerated() where tool.id.isEmpty {
            issues.append(.error(.required, "/tools/\(i)/id", "tool id is required"))
        }
        var seenTools = Set<String>()
        for (i, tool) in c.tools.enumerated() where !tool.id.isEmpty && !seenTools.insert(tool.id).inserted {
            issues.append(.error(.invalidValue, "/tools/\(i)/id", "tool '\(tool.id)' is listed twice"))
        }
        for (i, collection) in c.collections.enumerated() where collection.isEmpty {
            issues.append(.error(.invalidValue, "/collections/\(i)", "collection names must not be empty"))
        }
        if c.tags.count > 20 {
            issues.append(.error(.outOfRange, "/tags", "\(c.tags.count) tags; at most 20 are allowed"))
        }
        for (i, tag) in c.tags.enumerated() where tag.isEmpty || tag.unicodeScalars.count > 50 {
            issues.append(.error(.outOfRange, "/tags/\(i)", "tags must have 1–50 characters"))
        }
        let metadataSize = JSONValue.object(c.metadata).encoded.count
        if metadataSize > Self.metadataLimit {
            issues.append(.error(.outOfRange, "/metadata", "metadata is \(metadataSize) bytes encoded; at most \(Self.metadataLimit) are allowed"))
        }
        if c.type == .rag && c.collections.isEmpty {
            issues.append(
                .warning(
                    .advisory,
                    "/collections",
                    "a rag agent without collections has nothing to retrieve from",
                    suggestion: "Add at least one knowledge collection"
                )
            )
        }
        return issues
    }

    private func llm(_ llm: LLMConfig) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        if llm.model.isEmpty {
            issues.append(.error(.required, "/llm_config/model", "llm_config.model is required"))
        }
        issues += Self.range(llm.temperature, 0...2, at: "/llm_config/temperature")
        if let t = llm.temperature, t > 1.5, t <= 2 {
            issues.append(
                .warning(
                    .advisory,
                    "/llm_config/temperature",
                    "temperatures above 1.5 give erratic answers",
                    suggestion: "Use 0.0–1.0 for dependable output"
                )
            )
        }
        if let maxTokens = llm.maxTokens, maxTokens < 1 {
            issues.append(.error(.outOfRange, "/llm_config/max_tokens", "max_tokens must be at least 1"))
        }
        issues += Self.range(llm.topP, 0...1, at: "/llm_config/top_p")
        issues += Self.range(llm.frequencyPenalty, -2...2, at: "/llm_config/frequency_penalty")
        issues += Self.range(llm.presencePenalty, -2...2, at: "/llm_config/presence_penalty")
        if let stops = llm.stopSequences, stops.count > 4 {
            issues.append(.error(.outOfRange, "/llm_config/stop_sequences", "\(stops.count) stop sequences; at most 4 are allowed"))
        }
        return issues
    }

    private func memory(_ memory: MemoryConfig) -> [ValidationIssue] {
        var issues = Self.oneOf(memory.memoryType, at: "/memory_config/memory_type")
        if !(1...100).contains(memory.windowSize) {
            issues.append(.error(.outOfRange, "/memory_config/window_size", "window_size must be between 1 and 100, not \(memory.windowSize)"))
        }
        if let threshold = memory.summarizeThreshold, threshold < 1 {
            issues.append(.error(.outOfRange, "/memory_config/summarize_threshold", "summarize_threshold must be at least 1"))
        }
        return issues
    }

    static func range(_ value: Double?, _ range: ClosedRange<Double>, at path: String) -> [ValidationIssue] {
        guard let value, !range.contains(value) else { return [] }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return [.error(.outOfRange, path, "\(name) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")]
    }

    static func oneOf<E: OpenEnum>(_ value: E, at path: String) -> [ValidationIssue] {
        guard !value.isKnown else { return [] }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return [.error(.invalidValue, path, "\(name) '\(value.rawValue)' is not one of \(E.knownNames.joined(separator: ", "))")]
    }
}
