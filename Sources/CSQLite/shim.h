// SQLite 3 (Debian: libsqlite3-dev; make installs it). Used by Firmware/Outbox.swift only.
#include <sqlite3.h>
