import App

/// The executable only runs the command line, which lives in the `App` library with everything it starts.
@main
enum Entry {
    static func main() async {
        await AgentManagementCommand.main()
    }
}
