/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The record file: a header (magic, format version, the size of what follows) and a JSON
 * document describing the recording (kernel, arch, clock, tool version, command line), then
 * blocks of records, each a small header and a zstd frame with its checksum. Written in blocks
 * so that memory stays bounded however long the recording; read back to its last complete block.
 */
#ifndef HT_RECFILE_H
#define HT_RECFILE_H

#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"

/*
 * Versions: 2 packed allocator records; 3 added ns_pid to comm records, and build-id records; 4
 * sampling and totals records (--sample-bytes).
 */
#define RECFILE_MAGIC	      "HEAPTRL\n"
#define RECFILE_VERSION	      4		  /* 1 to 3 are still read */
#define RECFILE_BLOCK_MAGIC   0x4b4c4254u /* "TBLK" */
#define RECFILE_BLOCK_RAW_MAX (1u << 20)  /* records per block, in bytes */

struct recfile_header {
	char magic[8];
	uint32_t version;
	uint32_t meta_len; /* JSON metadata that follows */
};

struct recfile_block {
	uint32_t magic;
	uint32_t raw_size; /* records, uncompressed */
	uint32_t zsize;	   /* the zstd frame that follows */
	uint32_t nrecords;
};

struct recfile_writer;

/* Creates path (mode 0600) and writes the header; NULL after saying why. */
struct recfile_writer *recfile_create(const char *path, const char *meta_json);
/* Appends one record; -1 after saying why (disk full, ...). */
int recfile_write(struct recfile_writer *w, const struct ht_hdr *rec);
/* Flushes the last block and closes; -1 after saying why. */
int recfile_close(struct recfile_writer *w);

typedef void (*recfile_event_fn)(void *ctx, const struct ht_hdr *rec);

/*
 * Reads a recording from memory and hands every record to cb. Returns 0 (a file cut short is
 * read to its last complete block, with a warning naming what was lost), or -1 after saying why
 * (wrong magic, unknown version, corrupt block). meta_out, when not NULL, receives the metadata
 * JSON (malloc'ed).
 */
int recfile_read_mem(const uint8_t *data, size_t size, const char *name, recfile_event_fn cb,
		     void *ctx, char **meta_out);
/* The same from a file. */
int recfile_read(const char *path, recfile_event_fn cb, void *ctx, char **meta_out);

#endif
