// An in-memory SQLite workload: CREATE TABLE, 5000 INSERTs through a prepared
// statement in one transaction, an index, then aggregate SELECTs. SQLite seeds its
// own randomness from /dev/urandom. Prints a fixed line.
//
// Usage: replay_sqlite [loop SECONDS | repeat N]
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay_loop.h"

enum { kRows = 5000 };

static void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "sqlite %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
  }
}

static sqlite3_int64 query_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = NULL;
  check(sqlite3_prepare_v2(db, sql, -1, &st, NULL), db, sql);
  check(sqlite3_step(st), db, sql);
  sqlite3_int64 v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void workload(sqlite3_int64* sum, sqlite3_int64* groups, sqlite3_int64* longest) {
  sqlite3* db = NULL;
  check(sqlite3_open(":memory:", &db), db, "open");
  check(sqlite3_exec(db,
                     "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
                     "amount INTEGER NOT NULL, note TEXT)",
                     NULL, NULL, NULL),
        db, "create");
  check(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), db, "begin");
  sqlite3_stmt* ins = NULL;
  check(sqlite3_prepare_v2(db, "INSERT INTO orders (customer, amount, note) VALUES (?, ?, ?)",
                           -1, &ins, NULL),
        db, "prepare insert");
  for (int i = 0; i < kRows; ++i) {
    char customer[32], note[64];
    snprintf(customer, sizeof customer, "customer-%d", i % 37);
    snprintf(note, sizeof note, "order %d of %s", i, customer);
    sqlite3_bind_text(ins, 1, customer, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(ins, 2, (i * 7919) % 1000);
    sqlite3_bind_text(ins, 3, note, -1, SQLITE_TRANSIENT);
    check(sqlite3_step(ins), db, "insert");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
  check(sqlite3_exec(db, "CREATE INDEX by_customer ON orders (customer)", NULL, NULL, NULL), db,
        "index");
  if (query_int(db, "SELECT COUNT(*) FROM orders") != kRows) {
    fprintf(stderr, "sqlite lost rows\n");
    exit(1);
  }
  *sum = query_int(db, "SELECT SUM(amount) FROM orders");
  *groups = query_int(db, "SELECT COUNT(*) FROM (SELECT customer FROM orders GROUP BY customer "
                          "HAVING AVG(amount) > 490)");
  *longest = query_int(db, "SELECT MAX(LENGTH(note)) FROM orders");
  sqlite3_close(db);
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  sqlite3_int64 sum = 0, groups = 0, longest = 0;
  do {
    workload(&sum, &groups, &longest);
  } while (replay_loop_again(&loop));
  printf("sqlite: %d rows, sum %lld, %lld customers above 490, longest note %lld\n", kRows,
         (long long)sum, (long long)groups, (long long)longest);
  return 0;
}
