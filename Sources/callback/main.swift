import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "callback") { Functions.definition(.callback, environment: $0) }
