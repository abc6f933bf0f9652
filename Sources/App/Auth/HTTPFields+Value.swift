import HTTPTypes

extension HTTPFields {
    /// The value of `name`, read on every request. The subscript builds an array and joins it even
    /// for one value; only a repeated field takes that path here (joined as before, so it stays invalid).
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if found != nil { return self[name] }
            found = field.value
        }
        return found
    }
}

extension String {
    /// The credentials of an `Authorization: Bearer …` value (scheme case-insensitive, RFC 7235).
    var bearerToken: Substring? {
        let utf8 = self.utf8
        guard utf8.count > 7 else { return nil }
        var i = utf8.startIndex
        for expected in "bearer ".utf8 {
            let byte = utf8[i]
            guard byte == expected || (byte | 0x20) == expected && expected != UInt8(ascii: " ") else { return nil }
            i = utf8.index(after: i)
        }
        return self[i...]
    }
}
