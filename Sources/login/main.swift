import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "login") { Functions.definition(.login, environment: $0) }
