import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "logout", settings: .wxauth) {
    Functions.definition(.logout, environment: $0, postgres: PostgresStore.opener)
}
