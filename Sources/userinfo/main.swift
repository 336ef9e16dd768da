import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "userinfo") { environment in
    Functions.userinfo(ServiceProvider(environment: environment, needsWeChat: false))
}
