// lineage-dag: putRows, appended to lmdb-js's src/env.cpp by scripts/ensure-lmdb-v1.js.
//
// env.putRows(dbi, rows, layout, flags) puts every row packed in `rows` (a
// Uint8Array) into sub-database `dbi`, inside the write transaction that
// transactionSync holds, with one call from JavaScript per batch section
// instead of one per row (src/store/write-worker.js packs the sections).
// Layouts:
//   0: 20-byte rows, a 16-byte key then a 4-byte value, put in the order
//      given (sorted by layout 3 first: LMDB then touches each page once).
//      A key already there with the same value is left as it is; with
//      another value it is refused with MDB_KEYEXIST (a UDID with two ids).
//   3: rows as in 0, sorted by key in place; nothing is put (the caller then
//      puts key ranges with layout 0, each in its own transaction).
//   1: a u32 key (native order), a u16 length, then that many value bytes.
//   2: 8-byte rows, a u32 key (native order) then a 4-byte value.
//   4: rows as in 2, first sorted in place by key, then by value read as
//      big-endian (the dupSort edge rows: their values are big-endian ids).
// Rows that sort after the sub-DB's last row are appended (see
// LineageRowPutter), so sorted rows leave full pages.
// Returns the number of rows put; throws with LMDB's message and the row's
// position when a put fails (the caller's transaction then aborts).
#include <algorithm>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>

// A layout-0 row for sorting: the key as two big-endian words (their numeric
// order is the key's byte order), then the value. std::sort over these
// compares in registers; qsort over row pointers with memcmp took ~0.3 s of
// the write thread for the W1 run at S = 100,000 (1.4M rows).
struct LineageUdidRow {
	uint64_t hi, lo;
	uint32_t value;
	bool operator<(const LineageUdidRow& o) const {
		return hi != o.hi ? hi < o.hi : lo != o.lo ? lo < o.lo : value < o.value;
	}
};

// Puts rows through one cursor, appending each row that sorts after the
// sub-database's last row (MDB_APPEND, or MDB_APPENDDUP for a greater value
// under the last key of a dupSort sub-DB). An appended row that fills a leaf
// page starts a new one and leaves the full page as it is; any other put
// splits a full page in half, and rows in key order never come back to fill
// the left halves. The cursor remembers its page, so a row on it needs no
// descent from the root.
struct LineageRowPutter {
	enum { EMPTY, TRACKED, UNKNOWN };
	MDB_txn* txn;
	MDB_dbi dbi;
	MDB_cursor* cursor = nullptr;
	bool dupSort = false;
	int last = UNKNOWN;
	uint8_t lastKey[16];
	size_t lastKeySize = 0;
	uint8_t lastValue[16];
	size_t lastValueSize = 0;

	LineageRowPutter(MDB_txn* txn, MDB_dbi dbi) : txn(txn), dbi(dbi) {}
	~LineageRowPutter() {
		if (cursor) mdb_cursor_close(cursor);
	}

	int open() {
		unsigned dbFlags = 0;
		int rc = mdb_dbi_flags(txn, dbi, &dbFlags);
		if (rc != 0) return rc;
		dupSort = (dbFlags & MDB_DUPSORT) != 0;
		if ((rc = mdb_cursor_open(txn, dbi, &cursor)) != 0) return rc;
		MDB_val key, value;
		rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
		if (rc == MDB_NOTFOUND) {
			last = EMPTY;
			return 0;
		}
		if (rc == 0) remember(key, value);
		return rc;
	}

	void remember(const MDB_val& key, const MDB_val& value) {
		// Only a dupSort sub-DB needs the last value (and its values are ids).
		last = key.mv_size <= sizeof(lastKey) && (!dupSort || value.mv_size <= sizeof(lastValue)) ? TRACKED : UNKNOWN;
		if (last == UNKNOWN) return;
		memcpy(lastKey, key.mv_data, key.mv_size);
		lastKeySize = key.mv_size;
		if (!dupSort) return;
		memcpy(lastValue, value.mv_data, value.mv_size);
		lastValueSize = value.mv_size;
	}

	int put(MDB_val* key, MDB_val* value, unsigned flags) {
		unsigned append = 0;
		if (last == EMPTY) append = MDB_APPEND;
		else if (last == TRACKED) {
			MDB_val lastKeyVal = { lastKeySize, lastKey };
			int order = mdb_cmp(txn, dbi, key, &lastKeyVal);
			if (order > 0) append = MDB_APPEND;
			else if (order == 0 && dupSort) {
				MDB_val lastValueVal = { lastValueSize, lastValue };
				if (mdb_dcmp(txn, dbi, value, &lastValueVal) > 0) append = MDB_APPENDDUP;
			}
		}
		int rc = mdb_cursor_put(cursor, key, value, flags | append);
		if (rc == 0 && append != 0) remember(*key, *value);
		return rc;
	}
};

static Napi::Value lineagePutFailed(Napi::Env env, int rc, size_t row) {
	char message[200];
	snprintf(message, sizeof(message), "putRows: row %zu: %s", row, mdb_strerror(rc));
	return throwError(env, message);
}

Napi::Value EnvWrap::putRows(const Napi::CallbackInfo& info) {
	Napi::Env env = info.Env();
	if (!this->writeTxn || !this->writeTxn->txn)
		return throwError(env, "putRows: there is no write transaction");
	if (info.Length() < 4 || !info[1].IsTypedArray())
		return throwError(env, "putRows(dbi, rows, layout, flags): rows must be a Uint8Array");
	MDB_txn* txn = this->writeTxn->txn;
	MDB_dbi dbi = info[0].As<Napi::Number>().Uint32Value();
	Napi::Uint8Array rows = info[1].As<Napi::Uint8Array>();
	int layout = info[2].As<Napi::Number>().Int32Value();
	unsigned flags = info[3].As<Napi::Number>().Uint32Value();
	uint8_t* at = rows.Data();
	size_t length = rows.ByteLength();
	size_t count = 0;
	int rc = 0;
	if (layout == 3) {
		size_t n = length / 20;
		LineageUdidRow* sorted = (LineageUdidRow*) malloc((n ? n : 1) * sizeof(LineageUdidRow));
		if (!sorted) return throwError(env, "putRows: out of memory");
		for (size_t i = 0; i < n; i++) {
			uint64_t hi, lo;
			memcpy(&hi, at + i * 20, 8);
			memcpy(&lo, at + i * 20 + 8, 8);
			sorted[i].hi = __builtin_bswap64(hi);
			sorted[i].lo = __builtin_bswap64(lo);
			memcpy(&sorted[i].value, at + i * 20 + 16, 4);
		}
		std::sort(sorted, sorted + n);
		for (size_t i = 0; i < n; i++) {
			uint64_t hi = __builtin_bswap64(sorted[i].hi), lo = __builtin_bswap64(sorted[i].lo);
			memcpy(at + i * 20, &hi, 8);
			memcpy(at + i * 20 + 8, &lo, 8);
			memcpy(at + i * 20 + 16, &sorted[i].value, 4);
		}
		free(sorted);
		return Napi::Number::New(env, 0);
	}
	if (layout == 4) {
		// Edge rows sorted by key, then by value (big-endian: its byte order is its numeric order).
		size_t n = length / 8;
		uint64_t* keys = (uint64_t*) malloc((n ? n : 1) * sizeof(uint64_t));
		if (!keys) return throwError(env, "putRows: out of memory");
		for (size_t i = 0; i < n; i++) {
			uint32_t key, value;
			memcpy(&key, at + i * 8, 4);
			memcpy(&value, at + i * 8 + 4, 4);
			keys[i] = ((uint64_t) key << 32) | __builtin_bswap32(value);
		}
		std::sort(keys, keys + n);
		for (size_t i = 0; i < n; i++) {
			uint32_t key = (uint32_t) (keys[i] >> 32);
			uint32_t value = __builtin_bswap32((uint32_t) keys[i]);
			memcpy(at + i * 8, &key, 4);
			memcpy(at + i * 8 + 4, &value, 4);
		}
		free(keys);
		layout = 2;
	}
	LineageRowPutter putter(txn, dbi);
	if ((rc = putter.open()) != 0) return lineagePutFailed(env, rc, 0);
	if (layout == 0) {
		for (size_t offset = 0; offset + 20 <= length; offset += 20, count++) {
			MDB_val key = { 16, at + offset };
			MDB_val value = { 4, at + offset + 16 };
			// A row already there is put again (a merge redone after a crash); a key there with another value is refused.
			rc = putter.put(&key, &value, flags | MDB_NOOVERWRITE);
			if (rc == MDB_KEYEXIST && value.mv_size == 4 && memcmp(value.mv_data, at + offset + 16, 4) == 0) rc = 0;
			if (rc != 0) break;
		}
	} else if (layout == 1) {
		for (size_t offset = 0; offset + 6 <= length; count++) {
			uint32_t id;
			uint16_t size;
			memcpy(&id, at + offset, 4);
			memcpy(&size, at + offset + 4, 2);
			if (offset + 6 + size > length) return throwError(env, "putRows: a row runs past the end of the buffer");
			MDB_val key = { 4, &id };
			MDB_val value = { size, at + offset + 6 };
			if ((rc = putter.put(&key, &value, flags)) != 0) break;
			offset += 6 + size;
		}
	} else if (layout == 2) {
		for (size_t offset = 0; offset + 8 <= length; offset += 8, count++) {
			uint32_t id;
			memcpy(&id, at + offset, 4);
			MDB_val key = { 4, &id };
			MDB_val value = { 4, at + offset + 4 };
			if ((rc = putter.put(&key, &value, flags)) != 0) break;
		}
	} else return throwError(env, "putRows: unknown row layout");
	if (rc != 0) return lineagePutFailed(env, rc, count);
	return Napi::Number::New(env, (double) count);
}

// env.releaseMap() drops this process's mappings of the data file's pages
// (madvise MADV_DONTNEED over the map, found in /proc/self/maps). The map is
// read-only and shared, so nothing is lost: the pages stay in the OS page
// cache and the next access maps them again. It keeps the pages LMDB reads
// while it writes (B-tree descents, page copies) from accumulating in the
// process's resident set. Returns the bytes of the map, or 0 where this is
// not Linux or the map is not found.
Napi::Value EnvWrap::releaseMap(const Napi::CallbackInfo& info) {
	Napi::Env env = info.Env();
	double released = 0;
#ifdef __linux__
	const char* dir = nullptr;
	unsigned int envFlags = 0;
	if (this->env && mdb_env_get_path(this->env, &dir) == 0 && dir && mdb_env_get_flags(this->env, &envFlags) == 0) {
		std::string file = (envFlags & MDB_NOSUBDIR) ? std::string(dir) : std::string(dir) + "/data.mdb";
		char real[PATH_MAX];
		if (realpath(file.c_str(), real)) file = real;
		FILE* maps = fopen("/proc/self/maps", "r");
		if (maps) {
			char line[PATH_MAX + 256];
			while (fgets(line, sizeof(line), maps)) {
				unsigned long start, end;
				int pathAt = 0;
				if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &pathAt) < 2 || pathAt == 0) continue;
				char* path = line + pathAt;
				size_t n = strlen(path);
				if (n > 0 && path[n - 1] == '\n') path[--n] = 0;
				if (file != path) continue;
				if (madvise((void*) start, end - start, MADV_DONTNEED) == 0) released += (double) (end - start);
			}
			fclose(maps);
		}
	}
#endif
	return Napi::Number::New(env, released);
}

// env.metaUdidRows(dbi, ranges, out) writes the `udid` index rows of the tasks
// whose ids lie in the ranges [start, end) that `ranges` (a Uint32Array)
// holds as pairs: for each `meta` row there (sub-database `dbi`, u32 keys),
// its first 16 bytes (the UDID) and then its id, u32 native order, 20 bytes a
// row, into `out`, in id order. Returns the rows written. It runs in the
// write transaction, so it sees the rows its own batch put; the write thread
// builds a merge from it instead of the main thread packing every row.
Napi::Value EnvWrap::metaUdidRows(const Napi::CallbackInfo& info) {
	Napi::Env env = info.Env();
	if (!this->writeTxn || !this->writeTxn->txn)
		return throwError(env, "metaUdidRows: there is no write transaction");
	if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray())
		return throwError(env, "metaUdidRows(dbi, ranges, out): ranges must be a Uint32Array and out a Uint8Array");
	MDB_dbi dbi = info[0].As<Napi::Number>().Uint32Value();
	Napi::Uint32Array ranges = info[1].As<Napi::Uint32Array>();
	Napi::Uint8Array out = info[2].As<Napi::Uint8Array>();
	uint32_t* range = ranges.Data();
	size_t pairs = ranges.ElementLength() / 2;
	uint8_t* to = out.Data();
	size_t room = out.ByteLength() / 20;
	size_t written = 0;
	MDB_cursor* cursor;
	int rc = mdb_cursor_open(this->writeTxn->txn, dbi, &cursor);
	if (rc != 0) return lineagePutFailed(env, rc, 0);
	bool bad = false;
	for (size_t r = 0; r < pairs && rc == 0 && !bad; r++) {
		uint32_t id = range[r * 2];
		uint32_t end = range[r * 2 + 1];
		MDB_val key = { 4, &id };
		MDB_val value;
		for (rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
			uint32_t at;
			memcpy(&at, key.mv_data, 4);
			if (at >= end) break;
			if (value.mv_size < 16 || written == room) {
				bad = true;
				break;
			}
			memcpy(to + written * 20, value.mv_data, 16);
			memcpy(to + written * 20 + 16, &at, 4);
			written++;
		}
		if (rc == MDB_NOTFOUND) rc = 0;
	}
	mdb_cursor_close(cursor);
	if (bad) return throwError(env, "metaUdidRows: a meta row is shorter than a UDID, or there are more rows than out has room for");
	if (rc != 0) return lineagePutFailed(env, rc, written);
	return Napi::Number::New(env, (double) written);
}
