import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "refresh") { environment in
    Functions.refresh(ServiceProvider(environment: environment, needsWeChat: false))
}
