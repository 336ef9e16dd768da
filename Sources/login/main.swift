import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "login") { environment in
    Functions.login(ServiceProvider(environment: environment, needsWeChat: true))
}
