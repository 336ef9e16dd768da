import LocalRunner

await RunnerCommand.runFromCommandLine()
