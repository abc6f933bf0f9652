public import Foundation

extension Agent {
    /// The agent back from its own API bytes (`encodedJSON`), as a tenant's cache holds them, so a
    /// write can start from the cached version instead of a read of the row. `revision` is the cache
    /// entry's. `nil` when the bytes are not such an encoding.
    public init?(encoded bytes: ArraySlice<UInt8>, revision: Int) {
        guard let json = JSONValue.parse(bytes), case .object(let o) = json,
            case .string(let id)? = o["id"], let id = UUID(canonical: id),
            case .string(let tenant)? = o["tenant_id"], case .int(let version)? = o["version"],
            case .string(let created)? = o["created_at"], let createdAt = Self.date(timestamp: created),
            case .string(let updated)? = o["updated_at"], let updatedAt = Self.date(timestamp: updated),
            case .string(let createdBy)? = o["created_by"], case .string(let updatedBy)? = o["updated_by"],
            let config = try? AgentConfig(stored: json)
        else { return nil }
        let templateID: String?
        switch o["template_id"] {
        case nil, .null?: templateID = nil
        case .string(let value)?: templateID = value
        default: return nil
        }
        let templateVersion: Int?
        switch o["template_version"] {
        case nil, .null?: templateVersion = nil
        case .int(let value)?: templateVersion = value
        default: return nil
        }
        self.init(
            id: id,
            tenantID: tenant,
            version: version,
            config: config,
            validation: ValidationReport(json: o["validation"] ?? .null),
            createdAt: createdAt,
            updatedAt: updatedAt,
            createdBy: createdBy,
            updatedBy: updatedBy,
            revision: revision,
            templateID: templateID,
            templateVersion: templateVersion
        )
    }

    /// Reads what `timestamp(_:)` writes (`2026-11-27T10:34:44.123Z`), and nothing else.
    public static func date(timestamp: String) -> Date? {
        let b = Array(timestamp.utf8)
        guard b.count == 24, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b[19] == 46, b[23] == 90 else { return nil }
        func number(_ at: Int, _ width: Int) -> Int64? {
            var v: Int64 = 0
            for i in at..<at + width {
                guard (48...57).contains(b[i]) else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), let ms = number(20, 3),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm, the inverse of `timestamp`'s).
        let y = year - (month <= 2 ? 1 : 0)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let total = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms
        return Date(timeIntervalSince1970: Double(total) / 1000)
    }
}
