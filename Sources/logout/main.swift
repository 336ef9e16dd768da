import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "logout") { Functions.definition(.logout, environment: $0) }
