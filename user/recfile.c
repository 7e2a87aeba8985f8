// SPDX-License-Identifier: GPL-2.0-only
/*
 * Record files: the writer buffers records (each padded to 8 bytes) into 1 MiB blocks and
 * compresses each into a zstd frame with a checksum; the reader checks every header, size,
 * frame and record before it hands a record on, and stops at a block cut short.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "event.h"
#include "recfile.h"

#define META_MAX (1u << 20)

struct recfile_writer {
	int fd;
	char *path;
	uint8_t *raw;
	size_t raw_len;
	uint32_t nrecords;
	void *zbuf;
	size_t zcap;
	ZSTD_CCtx *cctx;
};

static size_t padded(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int write_all(struct recfile_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "heaptrail: writing %s: %s\n", w->path,
				n < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct recfile_writer *recfile_create(const char *path, const char *meta_json)
{
	struct recfile_header h = { .version = RECFILE_VERSION };
	struct recfile_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		fprintf(stderr, "heaptrail: cannot create %s: %s\n", path, strerror(errno));
		free(w);
		return NULL;
	}
	/* O_CREAT's mode applies to a new file only: an existing one is made private too. */
	fchmod(w->fd, 0600);
	w->path = strdup(path);
	w->raw = malloc(RECFILE_BLOCK_RAW_MAX);
	w->zcap = ZSTD_compressBound(RECFILE_BLOCK_RAW_MAX);
	w->zbuf = malloc(w->zcap);
	w->cctx = ZSTD_createCCtx();
	if (!w->path || !w->raw || !w->zbuf || !w->cctx) {
		fprintf(stderr, "heaptrail: %s: out of memory\n", path);
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	memcpy(h.magic, RECFILE_MAGIC, sizeof(h.magic));
	h.meta_len = (uint32_t)strlen(meta_json);
	if (write_all(w, &h, sizeof(h)) || write_all(w, meta_json, h.meta_len))
		goto fail;
	return w;
fail:
	close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	free(w->zbuf);
	free(w->raw);
	free(w->path);
	free(w);
	return NULL;
}

static int flush_block(struct recfile_writer *w)
{
	struct recfile_block b = { .magic = RECFILE_BLOCK_MAGIC };
	size_t z;

	if (!w->raw_len)
		return 0;
	z = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, w->raw, w->raw_len);
	if (ZSTD_isError(z)) {
		fprintf(stderr, "heaptrail: compressing for %s: %s\n", w->path,
			ZSTD_getErrorName(z));
		return -1;
	}
	b.raw_size = (uint32_t)w->raw_len;
	b.zsize = (uint32_t)z;
	b.nrecords = w->nrecords;
	w->raw_len = 0;
	w->nrecords = 0;
	return write_all(w, &b, sizeof(b)) || write_all(w, w->zbuf, z) ? -1 : 0;
}

int recfile_write(struct recfile_writer *w, const struct ht_hdr *rec)
{
	size_t len = padded(rec->size);

	if (w->raw_len + len > RECFILE_BLOCK_RAW_MAX && flush_block(w))
		return -1;
	memcpy(w->raw + w->raw_len, rec, rec->size);
	memset(w->raw + w->raw_len + rec->size, 0, len - rec->size);
	w->raw_len += len;
	w->nrecords++;
	return 0;
}

int recfile_close(struct recfile_writer *w)
{
	int err;

	if (!w)
		return 0;
	err = flush_block(w);
	if (fsync(w->fd) && !err) {
		fprintf(stderr, "heaptrail: writing %s: %s\n", w->path, strerror(errno));
		err = -1;
	}
	if (close(w->fd) && !err) {
		fprintf(stderr, "heaptrail: writing %s: %s\n", w->path, strerror(errno));
		err = -1;
	}
	ZSTD_freeCCtx(w->cctx);
	free(w->zbuf);
	free(w->raw);
	free(w->path);
	free(w);
	return err;
}

/* ---------------------------------------------------------------- reading */

#define DROP_EVERY (8u << 20)

/*
 * The reader proper. done(data, from, to), when given, is told that the bytes in [from, to)
 * will not be read again, every DROP_EVERY bytes or so (a syscall per block cost 10%).
 */
static int read_blocks(const uint8_t *data, size_t size, const char *name, recfile_event_fn cb,
		       void *ctx, char **meta_out, char *err, size_t errlen,
		       void (*done)(const uint8_t *data, size_t from, size_t to))
{
	struct recfile_header h;
	uint8_t *raw = NULL;
	ZSTD_DCtx *dctx = NULL;
	size_t off, nblock = 0, drop_from = 0;
	uint64_t last_ts = 0, records = 0;
	int ret = -1;

	if (meta_out)
		*meta_out = NULL;
	if (size < sizeof(h) || memcmp(data, RECFILE_MAGIC, 8)) {
		snprintf(err, errlen, "%s: not a heaptrail recording (%s)", name,
			 size < sizeof(h) ? "too short" : "wrong magic");
		return -1;
	}
	memcpy(&h, data, sizeof(h));
	if (h.version != RECFILE_VERSION) {
		snprintf(err, errlen,
			 "%s: format version %u is not supported (this heaptrail reads %u)", name,
			 h.version, RECFILE_VERSION);
		return -1;
	}
	if (h.meta_len > META_MAX || h.meta_len > size - sizeof(h)) {
		snprintf(err, errlen, "%s: %s in its header", name,
			 h.meta_len > META_MAX ? "corrupt" : "cut short");
		return -1;
	}
	if (meta_out) {
		*meta_out = malloc(h.meta_len + 1);
		if (*meta_out) {
			memcpy(*meta_out, data + sizeof(h), h.meta_len);
			(*meta_out)[h.meta_len] = '\0';
		}
	}
	raw = aligned_alloc(8, RECFILE_BLOCK_RAW_MAX);
	dctx = ZSTD_createDCtx();
	if (!raw || !dctx) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	for (off = sizeof(h) + h.meta_len; off < size; nblock++) {
		struct recfile_block b;
		size_t n, pos = 0;
		uint32_t count = 0;

		if (size - off < sizeof(b)) {
			fprintf(stderr,
				"heaptrail: warning: %s is cut short in the header of block %zu: "
				"read %" PRIu64 " records, the events after ts_ns %" PRIu64
				" are lost\n",
				name, nblock, records, last_ts);
			break;
		}
		memcpy(&b, data + off, sizeof(b));
		if (b.magic != RECFILE_BLOCK_MAGIC || !b.raw_size ||
		    b.raw_size > RECFILE_BLOCK_RAW_MAX ||
		    b.zsize > ZSTD_compressBound(RECFILE_BLOCK_RAW_MAX)) {
			snprintf(err, errlen,
				 "%s: block %zu at offset %zu is corrupt (bad block header)", name,
				 nblock, off);
			goto out;
		}
		if (size - off - sizeof(b) < b.zsize) {
			fprintf(stderr,
				"heaptrail: warning: %s is cut short in block %zu: read %" PRIu64
				" records, the %u of that block and any after it are lost "
				"(events after ts_ns %" PRIu64 ")\n",
				name, nblock, records, b.nrecords, last_ts);
			break;
		}
		n = ZSTD_decompressDCtx(dctx, raw, RECFILE_BLOCK_RAW_MAX, data + off + sizeof(b),
					b.zsize);
		if (ZSTD_isError(n) || n != b.raw_size) {
			snprintf(err, errlen, "%s: block %zu at offset %zu is corrupt (%s)", name,
				 nblock, off,
				 ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
			goto out;
		}
		while (pos < n) {
			const char *why;
			struct ht_hdr *rec = (struct ht_hdr *)(raw + pos);

			if (ht_rec_check(rec, n - pos, &why) < 0) {
				snprintf(err, errlen,
					 "%s: block %zu holds a bad record at byte %zu (%s)", name,
					 nblock, pos, why);
				goto out;
			}
			pos += padded(rec->size);
			count++;
		}
		if (count != b.nrecords) {
			snprintf(err, errlen, "%s: block %zu holds %u records, its header says %u",
				 name, nblock, count, b.nrecords);
			goto out;
		}
		/* Checked whole before any record is handed on. */
		for (pos = 0; pos < n; pos += padded(((struct ht_hdr *)(raw + pos))->size)) {
			struct ht_hdr *rec = (struct ht_hdr *)(raw + pos);

			if (rec->ts_ns > last_ts)
				last_ts = rec->ts_ns;
			records++;
			cb(ctx, rec);
		}
		off += sizeof(b) + b.zsize;
		if (done && off - drop_from >= DROP_EVERY) {
			done(data, drop_from, off);
			drop_from = off;
		}
	}
	ret = 0;
out:
	ZSTD_freeDCtx(dctx);
	free(raw);
	if (ret && meta_out) {
		free(*meta_out);
		*meta_out = NULL;
	}
	return ret;
}

int recfile_read_mem(const uint8_t *data, size_t size, const char *name, recfile_event_fn cb,
		     void *ctx, char **meta_out, char *err, size_t errlen)
{
	return read_blocks(data, size, name, cb, ctx, meta_out, err, errlen, NULL);
}

/* Read pages of the mapped file leave heaptrail's memory: a long recording reads in bounded RSS. */
static void drop_read_pages(const uint8_t *data, size_t from, size_t to)
{
	size_t page = 4096, start = (from + page - 1) & ~(page - 1), end = to & ~(page - 1);

	if (end > start)
		madvise((void *)(data + start), end - start, MADV_DONTNEED);
}

int recfile_read(const char *path, recfile_event_fn cb, void *ctx, char **meta_out, char *err,
		 size_t errlen)
{
	struct stat st;
	void *data;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		return recfile_read_mem((const uint8_t *)"", 0, path, cb, ctx, meta_out, err,
					errlen);
	}
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	/* The kernel pages the file in as the reader goes: memory stays bounded. */
	madvise(data, (size_t)st.st_size, MADV_SEQUENTIAL);
	ret = read_blocks(data, (size_t)st.st_size, path, cb, ctx, meta_out, err, errlen,
			  drop_read_pages);
	munmap(data, (size_t)st.st_size);
	return ret;
}
