// SPDX-License-Identifier: GPL-2.0-only
/*
 * Record files: the writer buffers records into 1 MiB blocks and compresses each into a zstd
 * frame with a checksum; the reader checks every header, size, frame and record before it hands
 * a record on, and stops at a block cut short. Allocator records, nearly all of a long
 * recording, are packed (format 2, below); others are stored as they are, padded to 8 bytes.
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
#include "record/event.h"
#include "source/file/recfile.h"
#include "util/say.h"

#define META_MAX (1u << 20)

/*
 * A packed allocator record, format 2. zstd's decoding time grows with the bytes it makes, and
 * a 96-byte struct ht_alloc is mostly zeros and repeats: packed, a malloc or free takes about
 * 25 bytes before compression. Layout: u16 PACKED_TYPE, u8 length (all of it), u8 bits
 * (PK_*), then LEB128 varints: ts_ns as the zigzag delta from the previous packed record of
 * the block; pid and tid unless PK_SAME_TASK; hdr.flags unless PK_NO_FLAGS; fn; variant and
 * aliases unless PK_NO_VARIANT; the (stack_id, caller) pair as 0 and the pair in 16 raw
 * bytes (entered in the block's dictionary while there is room) or as its dictionary index
 * + 1; args[0]; args[1] and args[2] unless PK_NO_ARGS12; ret; addr unless PK_ADDR_IS_RET;
 * lat_ns unless PK_NO_LAT. Everything restarts with each block, so that blocks stand alone.
 * A packed record is not padded; the next unpacked one starts at the next multiple of 8,
 * after zero bytes (a type that cannot be PACKED_TYPE).
 */
#define PACKED_TYPE    0xa110u
#define PACK_DICT      4096u
#define PACK_MAX       128u
#define PK_SAME_TASK   (1u << 0)
#define PK_NO_FLAGS    (1u << 1)
#define PK_NO_VARIANT  (1u << 2)
#define PK_NO_ARGS12   (1u << 3)
#define PK_ADDR_IS_RET (1u << 4)
#define PK_NO_LAT      (1u << 5)
#define PK_KNOWN       0x3fu

struct pack_pair {
	uint64_t stack_id, caller;
};

/* What packing refers back to, on either side; reset at each block. */
struct pack_state {
	uint64_t ts;
	uint32_t pid, tid;
	uint32_t npairs;
	struct pack_pair pairs[PACK_DICT];
};

struct recfile_writer {
	int fd;
	char *path;
	uint8_t *raw;
	size_t raw_len;
	uint32_t nrecords;
	void *zbuf;
	size_t zcap;
	ZSTD_CCtx *cctx;
	struct pack_state ps;
	uint16_t pair_slot[2 * PACK_DICT]; /* hash of a pair -> its index + 1; 0: empty */
};

static size_t padded(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Bytes read, 0 if the varint runs past end or is longer than 10 bytes. */
static inline size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	if (p < end && p[0] < 0x80) { /* most fields: small numbers and deltas */
		*v = p[0];
		return 1;
	}

	for (size_t n = 0; n < 10 && p + n < end; n++) {
		x |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n] & 0x80)) {
			*v = x;
			return n + 1;
		}
	}
	return 0;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void pack_reset(struct pack_state *ps)
{
	ps->ts = 0;
	ps->pid = ps->tid = 0;
	ps->npairs = 0;
}

static size_t pair_hash(uint64_t stack_id, uint64_t caller)
{
	return (size_t)(((stack_id ^ (caller * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull) >>
			40) &
	       (2 * PACK_DICT - 1);
}

/* Packs a into out (PACK_MAX bytes); returns its length. */
static size_t pack_alloc(struct recfile_writer *w, const struct ht_alloc *a, uint8_t *out)
{
	struct pack_state *ps = &w->ps;
	uint8_t bits = 0;
	size_t n = 4, h;

	n += put_varint(out + n, zigzag((int64_t)(a->hdr.ts_ns - ps->ts)));
	ps->ts = a->hdr.ts_ns;
	if (a->hdr.pid == ps->pid && a->hdr.tid == ps->tid) {
		bits |= PK_SAME_TASK;
	} else {
		n += put_varint(out + n, a->hdr.pid);
		n += put_varint(out + n, a->hdr.tid);
		ps->pid = a->hdr.pid;
		ps->tid = a->hdr.tid;
	}
	if (!a->hdr.flags)
		bits |= PK_NO_FLAGS;
	else
		n += put_varint(out + n, a->hdr.flags);
	n += put_varint(out + n, a->fn);
	if (!a->variant && !a->aliases) {
		bits |= PK_NO_VARIANT;
	} else {
		n += put_varint(out + n, a->variant);
		n += put_varint(out + n, a->aliases);
	}
	for (h = pair_hash(a->stack_id, a->caller); w->pair_slot[h];
	     h = (h + 1) & (2 * PACK_DICT - 1)) {
		const struct pack_pair *pp = &ps->pairs[w->pair_slot[h] - 1];

		if (pp->stack_id == a->stack_id && pp->caller == a->caller)
			break;
	}
	if (w->pair_slot[h]) {
		n += put_varint(out + n, w->pair_slot[h]);
	} else {
		out[n++] = 0;
		memcpy(out + n, &a->stack_id, 8);
		memcpy(out + n + 8, &a->caller, 8);
		n += 16;
		if (ps->npairs < PACK_DICT) {
			ps->pairs[ps->npairs] = (struct pack_pair){ a->stack_id, a->caller };
			w->pair_slot[h] = (uint16_t)++ps->npairs;
		}
	}
	n += put_varint(out + n, a->args[0]);
	if (!a->args[1] && !a->args[2]) {
		bits |= PK_NO_ARGS12;
	} else {
		n += put_varint(out + n, a->args[1]);
		n += put_varint(out + n, a->args[2]);
	}
	n += put_varint(out + n, a->ret);
	if (a->addr == a->ret)
		bits |= PK_ADDR_IS_RET;
	else
		n += put_varint(out + n, a->addr);
	if (!a->lat_ns)
		bits |= PK_NO_LAT;
	else
		n += put_varint(out + n, a->lat_ns);
	out[0] = PACKED_TYPE & 0xff;
	out[1] = PACKED_TYPE >> 8;
	out[2] = (uint8_t)n;
	out[3] = bits;
	return n;
}

/* The fields of one packed record, read in order; a read past its end marks it cut short. */
struct cursor {
	const uint8_t *p, *end;
	bool cut, out_of_range;
};

static inline uint64_t next(struct cursor *c, uint64_t max)
{
	uint64_t v = 0;
	size_t k = get_varint(c->p, c->end, &v);

	if (!k)
		c->cut = true;
	c->p += k;
	if (v > max)
		c->out_of_range = true;
	return v;
}

/*
 * Unpacks the record at p (at most end - p bytes) into a, its length into *len; returns what is
 * wrong with it, NULL when nothing is.
 */
static const char *unpack_alloc(struct pack_state *ps, const uint8_t *p, const uint8_t *end,
				struct ht_alloc *a, size_t *len)
{
	const char *why;
	struct cursor c;
	uint64_t ref;
	uint8_t bits;

	if (end - p < 4 || p[2] < 5 || p[2] > end - p || (p[3] & ~PK_KNOWN))
		return "bad packed record header";
	c = (struct cursor){ p + 4, p + p[2], false, false };
	bits = p[3];
	memset(a, 0, sizeof(*a));
	ps->ts += (uint64_t)unzigzag(next(&c, UINT64_MAX));
	if (!(bits & PK_SAME_TASK)) {
		ps->pid = (uint32_t)next(&c, UINT32_MAX);
		ps->tid = (uint32_t)next(&c, UINT32_MAX);
	}
	a->hdr = (struct ht_hdr){ .type = HT_REC_ALLOC,
				  .size = sizeof(*a),
				  .ts_ns = ps->ts,
				  .pid = ps->pid,
				  .tid = ps->tid };
	if (!(bits & PK_NO_FLAGS))
		a->hdr.flags = (uint32_t)next(&c, UINT32_MAX);
	a->fn = (uint8_t)next(&c, UINT8_MAX);
	if (!(bits & PK_NO_VARIANT)) {
		a->variant = (uint8_t)next(&c, UINT8_MAX);
		a->aliases = (uint16_t)next(&c, UINT16_MAX);
	}
	/* the (stack_id, caller) pair: 0 and the pair, or its dictionary index + 1 */
	ref = next(&c, UINT64_MAX);
	if (!c.cut && ref == 0 && c.end - c.p >= 16) {
		memcpy(&a->stack_id, c.p, 8);
		memcpy(&a->caller, c.p + 8, 8);
		c.p += 16;
		if (ps->npairs < PACK_DICT)
			ps->pairs[ps->npairs++] = (struct pack_pair){ a->stack_id, a->caller };
	} else if (ref == 0) {
		c.cut = true;
	} else if (ref <= ps->npairs) {
		a->stack_id = ps->pairs[ref - 1].stack_id;
		a->caller = ps->pairs[ref - 1].caller;
	} else if (!c.cut) {
		return "packed record refers to a stack not yet seen";
	}
	a->args[0] = next(&c, UINT64_MAX);
	if (!(bits & PK_NO_ARGS12)) {
		a->args[1] = next(&c, UINT64_MAX);
		a->args[2] = next(&c, UINT64_MAX);
	}
	a->ret = next(&c, UINT64_MAX);
	a->addr = bits & PK_ADDR_IS_RET ? a->ret : next(&c, UINT64_MAX);
	if (!(bits & PK_NO_LAT))
		a->lat_ns = next(&c, UINT64_MAX);
	why = c.cut	       ? "packed record cut short"
	      : c.out_of_range ? "packed record field out of range"
	      : c.p != c.end   ? "packed record longer than its fields"
			       : NULL;
	*len = p[2];
	return why;
}

static int write_all(struct recfile_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			say("writing %s: %s", w->path, n < 0 ? strerror(errno) : "no progress");
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
		say("cannot create %s: %s", path, strerror(errno));
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
		say("%s: out of memory", path);
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
	pack_reset(&w->ps);
	memset(w->pair_slot, 0, sizeof(w->pair_slot));
	z = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, w->raw, w->raw_len);
	if (ZSTD_isError(z)) {
		say("compressing for %s: %s", w->path, ZSTD_getErrorName(z));
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
	size_t len = padded(rec->size), at;

	if (rec->type == HT_REC_ALLOC && rec->size == sizeof(struct ht_alloc)) {
		if (w->raw_len + PACK_MAX > RECFILE_BLOCK_RAW_MAX && flush_block(w))
			return -1;
		w->raw_len += pack_alloc(w, (const struct ht_alloc *)rec, w->raw + w->raw_len);
		w->nrecords++;
		return 0;
	}
	/* after packed records: zeros up to the next multiple of 8 */
	at = padded(w->raw_len);
	if (at + len > RECFILE_BLOCK_RAW_MAX) {
		if (flush_block(w))
			return -1;
		at = 0;
	}
	memset(w->raw + w->raw_len, 0, at - w->raw_len);
	w->raw_len = at;
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
		say("writing %s: %s", w->path, strerror(errno));
		err = -1;
	}
	if (close(w->fd) && !err) {
		say("writing %s: %s", w->path, strerror(errno));
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
/* What reading a file needs while it goes through the blocks. */
struct reader {
	const char *name;
	recfile_event_fn cb;
	void *ctx;
	uint8_t *raw; /* the block being read, decompressed */
	ZSTD_DCtx *dctx;
	struct pack_state *ps;
	size_t nblock;
	uint64_t last_ts, records;
};

/* The file header and its metadata (copied to *meta_out when asked). 0, or -1 after saying why. */
static int read_header(struct reader *r, const uint8_t *data, size_t size, struct recfile_header *h,
		       char **meta_out)
{
	if (size < sizeof(*h) || memcmp(data, RECFILE_MAGIC, 8)) {
		say("%s: not a heaptrail recording (%s)", r->name,
		    size < sizeof(*h) ? "too short" : "wrong magic");
		return -1;
	}
	memcpy(h, data, sizeof(*h));
	if (h->version < 1 || h->version > RECFILE_VERSION) {
		say("%s: format version %u is not supported (this heaptrail reads 1 to %u)",
		    r->name, h->version, RECFILE_VERSION);
		return -1;
	}
	if (h->meta_len > META_MAX || h->meta_len > size - sizeof(*h)) {
		say("%s: %s in its header", r->name,
		    h->meta_len > META_MAX ? "corrupt" : "cut short");
		return -1;
	}
	if (meta_out) {
		*meta_out = malloc(h->meta_len + 1);
		if (*meta_out) {
			memcpy(*meta_out, data + sizeof(*h), h->meta_len);
			(*meta_out)[h->meta_len] = '\0';
		}
	}
	return 0;
}

/* The n bytes of one decompressed block, record by record to the callback. */
static int read_records(struct reader *r, size_t n, uint32_t *count)
{
	size_t pos = 0;

	pack_reset(r->ps);
	while (pos < n) {
		const char *why;
		struct ht_hdr *rec;
		struct ht_alloc a;
		uint16_t type = 0;

		memcpy(&type, r->raw + pos, n - pos >= 2 ? 2 : 1);
		if (type == PACKED_TYPE) {
			size_t k;

			why = unpack_alloc(r->ps, r->raw + pos, r->raw + n, &a, &k);
			if (why)
				goto bad_record;
			/* type and size are right by construction: what ht_rec_check adds */
			if (!ht_alloc_fn_valid(a.fn)) {
				why = "unknown allocator function";
				goto bad_record;
			}
			pos += k;
			rec = &a.hdr;
		} else {
			pos = padded(pos);
			if (pos >= n)
				break;
			rec = (struct ht_hdr *)(r->raw + pos);
			why = ht_rec_problem(rec, n - pos);
			if (why)
				goto bad_record;
			pos += padded(rec->size);
		}
		if (rec->ts_ns > r->last_ts)
			r->last_ts = rec->ts_ns;
		(*count)++;
		r->records++;
		r->cb(r->ctx, rec);
		continue;
	bad_record:
		say("%s: block %zu holds a bad record at byte %zu (%s)", r->name, r->nblock, pos,
		    why);
		return -1;
	}
	return 0;
}

/*
 * One block at data + off: its records to the callback. Returns the offset of the next block,
 * 0 at a cut-short end (warned about: what came before stands), or -1 after saying why.
 */
static long read_block(struct reader *r, const uint8_t *data, size_t size, size_t off)
{
	struct recfile_block b;
	uint32_t count = 0;
	size_t n;

	if (size - off < sizeof(b)) {
		say("warning: %s is cut short in the header of block %zu: read %" PRIu64
		    " records, the events after ts_ns %" PRIu64 " are lost",
		    r->name, r->nblock, r->records, r->last_ts);
		return 0;
	}
	memcpy(&b, data + off, sizeof(b));
	if (b.magic != RECFILE_BLOCK_MAGIC || !b.raw_size || b.raw_size > RECFILE_BLOCK_RAW_MAX ||
	    b.zsize > ZSTD_compressBound(RECFILE_BLOCK_RAW_MAX)) {
		say("%s: block %zu at offset %zu is corrupt (bad block header)", r->name, r->nblock,
		    off);
		return -1;
	}
	if (size - off - sizeof(b) < b.zsize) {
		say("warning: %s is cut short in block %zu: read %" PRIu64
		    " records, the %u of that block and any after it are lost (events after ts_ns "
		    "%" PRIu64 ")",
		    r->name, r->nblock, r->records, b.nrecords, r->last_ts);
		return 0;
	}
	n = ZSTD_decompressDCtx(r->dctx, r->raw, RECFILE_BLOCK_RAW_MAX, data + off + sizeof(b),
				b.zsize);
	if (ZSTD_isError(n) || n != b.raw_size) {
		say("%s: block %zu at offset %zu is corrupt (%s)", r->name, r->nblock, off,
		    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
		return -1;
	}
	if (read_records(r, n, &count))
		return -1;
	if (count != b.nrecords) {
		say("%s: block %zu holds %u records, its header says %u", r->name, r->nblock, count,
		    b.nrecords);
		return -1;
	}
	return (long)(off + sizeof(b) + b.zsize);
}

static int read_blocks(const uint8_t *data, size_t size, const char *name, recfile_event_fn cb,
		       void *ctx, char **meta_out,
		       void (*done)(const uint8_t *data, size_t from, size_t to))
{
	struct reader r = { .name = name, .cb = cb, .ctx = ctx };
	struct recfile_header h;
	size_t drop_from = 0;
	int ret = -1;

	if (meta_out)
		*meta_out = NULL;
	if (read_header(&r, data, size, &h, meta_out))
		return -1;
	r.raw = aligned_alloc(8, RECFILE_BLOCK_RAW_MAX);
	r.dctx = ZSTD_createDCtx();
	r.ps = malloc(sizeof(*r.ps));
	if (!r.raw || !r.dctx || !r.ps) {
		say("%s: out of memory", name);
		goto out;
	}
	for (size_t off = sizeof(h) + h.meta_len; off < size; r.nblock++) {
		long next = read_block(&r, data, size, off);

		if (next < 0)
			goto out;
		if (next == 0)
			break; /* cut short: what came before stands */
		off = (size_t)next;
		if (done && off - drop_from >= DROP_EVERY) {
			done(data, drop_from, off);
			drop_from = off;
		}
	}
	ret = 0;
out:
	ZSTD_freeDCtx(r.dctx);
	free(r.ps);
	free(r.raw);
	if (ret && meta_out) {
		free(*meta_out);
		*meta_out = NULL;
	}
	return ret;
}

int recfile_read_mem(const uint8_t *data, size_t size, const char *name, recfile_event_fn cb,
		     void *ctx, char **meta_out)
{
	return read_blocks(data, size, name, cb, ctx, meta_out, NULL);
}

/* Read pages of the mapped file leave heaptrail's memory: a long recording reads in bounded RSS. */
static void drop_read_pages(const uint8_t *data, size_t from, size_t to)
{
	size_t page = 4096, start = (from + page - 1) & ~(page - 1), end = to & ~(page - 1);

	if (end > start)
		madvise((void *)(data + start), end - start, MADV_DONTNEED);
}

int recfile_read(const char *path, recfile_event_fn cb, void *ctx, char **meta_out)
{
	struct stat st;
	void *data;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		say("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		say("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		return recfile_read_mem((const uint8_t *)"", 0, path, cb, ctx, meta_out);
	}
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED) {
		say("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	/* The kernel pages the file in as the reader goes: memory stays bounded. */
	madvise(data, (size_t)st.st_size, MADV_SEQUENTIAL);
	ret = read_blocks(data, (size_t)st.st_size, path, cb, ctx, meta_out, drop_read_pages);
	munmap(data, (size_t)st.st_size);
	return ret;
}
