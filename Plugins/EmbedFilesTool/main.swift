import Foundation

/// `EmbedFilesTool OUTPUT FILE...`: writes `enum EmbeddedFiles` with one raw string constant per
/// file, named after it (`agents-and-quota.sql` becomes `agentsAndQuotaSQL`).
let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedFilesTool OUTPUT FILE...\n".utf8))
    exit(2)
}

func constantName(_ path: String) -> String {
    let url = URL(fileURLWithPath: path)
    let words = url.deletingPathExtension().lastPathComponent.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
    let stem = words.enumerated().map { $0 == 0 ? $1.lowercased() : $1.prefix(1).uppercased() + $1.dropFirst().lowercased() }
    return stem.joined() + url.pathExtension.uppercased()
}

/// The fewest `#` that let `text` stand in a raw multi-line literal unchanged.
func delimiter(for text: String) -> String {
    var hashes = "#"
    while text.contains("\"\"\"" + hashes) || text.contains("\\" + hashes) { hashes += "#" }
    return hashes
}

var source = "// Generated at build time by the EmbedFiles plugin.\n\nenum EmbeddedFiles {\n"
for path in arguments.dropFirst() {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let hashes = delimiter(for: text)
    source += "    static let \(constantName(path)) = \(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)\n"
}
source += "}\n"
try source.write(toFile: output, atomically: true, encoding: .utf8)
