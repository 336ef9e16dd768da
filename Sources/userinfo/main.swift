import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "userinfo") { Functions.definition(.userinfo, environment: $0) }
