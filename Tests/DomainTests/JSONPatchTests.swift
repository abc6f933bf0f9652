import Domain
import Testing

@Suite struct JSONPatchTests {
    /// `~1` as a key catches an unescape done in the wrong order.
    static let keys = ["name", "model", "temperature", "tools", "config", "a/b", "til~de", "~1", "", "tags", "memory_type"]

    static func value(_ rng: inout SplitMix, depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth > 2 ? 5 : 7), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int.random(in: -5...5, using: &rng))
        case 3: return .double(Double(Int.random(in: 0...20, using: &rng)) / 10)
        case 4: return .string(keys.randomElement(using: &rng)!)
        case 5: return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in value(&rng, depth: depth + 1) })
        default: return object(&rng, depth: depth + 1)
        }
    }

    static func object(_ rng: inout SplitMix, depth: Int) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0...5, using: &rng) { fields[keys.randomElement(using: &rng)!] = value(&rng, depth: depth) }
        return .object(fields)
    }

    /// Changes some of `document`: values replaced, keys added and removed, at any depth.
    static func mutate(_ document: JSONValue, _ rng: inout SplitMix, depth: Int = 0) -> JSONValue {
        guard case .object(var fields) = document else {
            return Int.random(in: 0..<3, using: &rng) == 0 ? value(&rng, depth: depth) : document
        }
        for key in fields.keys.sorted() {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: fields[key] = nil
            case 1: fields[key] = value(&rng, depth: depth + 1)
            default: fields[key] = mutate(fields[key]!, &rng, depth: depth + 1)
            }
        }
        if Bool.random(using: &rng) { fields[keys.randomElement(using: &rng)!] = value(&rng, depth: depth + 1) }
        return .object(fields)
    }

    @Test func applyingTheDiffGivesTheTarget() throws {
        var kinds: [JSONPatch.Operation.Kind: Int] = [:]
        var changed = 0
        for seed in UInt64(1)...2000 {
            var rng = SplitMix(state: seed)
            let a = Self.object(&rng, depth: 0)
            let b = Self.mutate(a, &rng)
            let patch = JSONPatch.diff(a, b)
            if !patch.isEmpty { changed += 1 }
            for op in patch { kinds[op.op, default: 0] += 1 }
            do {
                // Numbers compare by value: the diff does not turn `1.0` into `1`.
                #expect(JSONPatch.same(try JSONPatch.apply(patch, to: a), b), "seed \(seed)")
            } catch {
                Issue.record("seed \(seed): the diff does not apply: \(error)")
            }
            #expect(JSONPatch.diff(b, b).isEmpty, "seed \(seed)")
        }
        // The cases are not trivial: most pairs differ, and every kind of operation occurs often.
        #expect(changed > 1500)
        #expect(kinds[.add, default: 0] > 500 && kinds[.remove, default: 0] > 500 && kinds[.replace, default: 0] > 500)
    }

    @Test func objectsKeyByKeyArraysAsAWhole() {
        let a: JSONValue = .object([
            "name": .string("A"), "llm_config": .object(["model": .string("m"), "temperature": .double(0.5)]),
            "tags": .array([.string("x")]), "old": .bool(true),
        ])
        let b: JSONValue = .object([
            "name": .string("A"), "llm_config": .object(["model": .string("m"), "temperature": .double(0.7)]),
            "tags": .array([.string("x"), .string("y")]), "a/b~": .int(1),
        ])
        #expect(
            JSONPatch.diff(a, b) == [
                .init(.remove, "/old"),
                .init(.add, "/a~1b~0", .int(1)),
                .init(.replace, "/llm_config/temperature", .double(0.7)),
                .init(.replace, "/tags", .array([.string("x"), .string("y")])),
            ]
        )
        #expect(JSONPatch.diff(.object(["n": .int(1)]), .object(["n": .double(1.0)])).isEmpty, "1 and 1.0 are the same number")
        #expect(!JSONPatch.same(.int(9_007_199_254_740_993), .double(9_007_199_254_740_992)), "beyond 2^53 a double is not the int")
    }

    @Test func patchesFromElsewhereApplyAsRFC6902Says() throws {
        let doc: JSONValue = .object(["tools": .array([.string("a"), .string("c")]), "x": .object(["y": .int(1)])])
        let patched = try JSONPatch.apply(
            [
                .init(.add, "/tools/1", .string("b")),
                .init(.add, "/tools/-", .string("d")),
                .init(.remove, "/x/y"),
                .init(.replace, "/x", .int(2)),
            ],
            to: doc
        )
        #expect(patched == .object(["tools": .array([.string("a"), .string("b"), .string("c"), .string("d")]), "x": .int(2)]))
        #expect(throws: JSONPatch.ApplyError.self) { try JSONPatch.apply([.init(.replace, "/missing", .int(1))], to: doc) }
        #expect(throws: JSONPatch.ApplyError.self) { try JSONPatch.apply([.init(.remove, "/tools/9")], to: doc) }
        #expect(throws: JSONPatch.ApplyError.self) { try JSONPatch.apply([.init(.add, "/tools/01", .int(1))], to: doc) }
        #expect(throws: JSONPatch.ApplyError.self) { try JSONPatch.apply([.init(.add, "no-slash", .int(1))], to: doc) }
        #expect(try JSONPatch.apply([.init(.replace, "", .int(3))], to: doc) == .int(3))
        let nested: JSONValue = .object(["tools": .array([.object(["x": .int(1)]), .int(2)])])
        #expect(
            try JSONPatch.apply([.init(.replace, "/tools/0/x", .int(5)), .init(.remove, "/tools/1")], to: nested)
                == .object(["tools": .array([.object(["x": .int(5)])])])
        )
        #expect(
            try JSONPatch.apply([.init(.replace, "/tools/1", .null)], to: nested) == .object(["tools": .array([.object(["x": .int(1)]), .null])])
        )
        #expect(throws: JSONPatch.ApplyError.self) { try JSONPatch.apply([.init(.add, "/a~2b", .int(1))], to: doc) }
        #expect(throws: JSONPatch.ApplyError.self) { try JSONPatch.apply([.init(.add, "/a~", .int(1))], to: doc) }
        #expect(try JSONPatch.apply([.init(.add, "/~01", .int(1))], to: .object([:])) == .object(["~1": .int(1)]))
    }
}
