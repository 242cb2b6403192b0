// SQLite 3 (Debian: libsqlite3-dev; make installs it). Used by Firmware's outbox only.
#include <sqlite3.h>

// sqlite3_db_config is variadic, which Swift cannot call: the one option the outbox sets.
// No checkpoint when the connection closes: a damaged outbox is put aside as it is, its
// write-ahead log beside it, not folded into the damaged file (and deleted) on the way out.
static inline int firmloop_sqlite3_no_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}
