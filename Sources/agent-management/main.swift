import App

await AgentManagementCommand.main()
