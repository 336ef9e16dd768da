import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "login") {
    Functions.definition(.login, environment: $0, postgres: PostgresStore.opener)
}
