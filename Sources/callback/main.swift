import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "callback") { environment in
    Functions.callback(ServiceProvider(environment: environment, needsWeChat: false))
}
