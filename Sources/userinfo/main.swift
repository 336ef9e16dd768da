import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "userinfo") {
    Functions.definition(.userinfo, environment: $0, postgres: PostgresStore.opener)
}
