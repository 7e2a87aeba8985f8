/* SPDX-License-Identifier: GPL-2.0-only */
/* A small streaming JSON writer: objects, arrays, escaped strings, numbers, addresses. */
#ifndef HT_JSON_H
#define HT_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
	bool after_key; /* a key was written: the next value needs no comma */
};

void json_init(struct json *j, FILE *out);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_u64(struct json *j, uint64_t v);
void json_s64(struct json *j, int64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Ends a JSON Lines record: a newline, and the next top-level value needs no comma. */
void json_line_end(struct json *j);
/* A value another writer made (a table built apart while its users were written). */
void json_raw(struct json *j, const char *text);
/* An address, as the contract wants it: a string "0x...". */
void json_addr(struct json *j, uint64_t addr);

/* key + value shorthands */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_u64(struct json *j, const char *key, uint64_t v);
void json_kv_s64(struct json *j, const char *key, int64_t v);
void json_kv_bool(struct json *j, const char *key, bool v);
void json_kv_addr(struct json *j, const char *key, uint64_t addr);

#endif
