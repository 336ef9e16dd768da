import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "userinfo", settings: .wxauth) {
    Functions.definition(.userinfo, environment: $0, postgres: PostgresStore.opener)
}
