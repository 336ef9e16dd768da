// The system's SQLite (Debian's libsqlite3-dev): the functions link its static libsqlite3.a.
#include <sqlite3.h>
