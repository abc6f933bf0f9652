import Foundation
import PackagePlugin

/// Embeds a target's `.sql` files and the web console's `.html`, `.css` and `.js` files, and the
/// package's `openapi.yaml` in `App`, as string constants of `EmbeddedFiles`: the binary stays
/// self-contained and nothing generated is checked in.
@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let embedded: Set = ["sql", "html", "css", "js"]
        var inputs = target.sourceFiles.map(\.url).filter { embedded.contains($0.pathExtension) }
        if target.name == "App" { inputs.append(context.package.directoryURL.appending(path: "openapi.yaml")) }
        guard !inputs.isEmpty else { return [] }
        inputs.sort { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) file(s) in \(target.name)",
                executable: try context.tool(named: "EmbedFilesTool").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
