// SPDX-License-Identifier: GPL-2.0-only
/*
 * The text and JSON forms of records: both walk the argument layouts that record/event.c
 * describes, so that a call is named and ordered the same way in either form.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "output/event_fmt.h"
#include "record/event.h"
#include "symbols/ksyms.h"

/* ---------------------------------------------------------------- JSON */

static void json_arg(struct json *j, const struct ht_arg_desc *d, uint64_t v)
{
	switch (d->kind) {
	case HT_ARGK_ADDR:
		json_kv_addr(j, d->name, v);
		break;
	case HT_ARGK_INT:
		json_kv_s64(j, d->name, (int32_t)v);
		break;
	case HT_ARGK_SIZE:
	case HT_ARGK_HEX:
		json_kv_u64(j, d->name, v);
		break;
	case HT_ARGK_NONE:
		break;
	}
}

static void json_aliases(struct json *j, unsigned aliases)
{
	if (!aliases)
		return;
	json_key(j, "aliases");
	json_array_begin(j);
	for (unsigned fn = 1; fn < HT_FN_MAX; fn++)
		if (aliases & (1u << fn))
			json_string(j, ht_alloc_desc(fn)->name);
	json_array_end(j);
}

static void json_alloc(struct json *j, const struct ht_alloc *a)
{
	struct ht_arg_desc args[3];

	ht_alloc_args(a->fn, a->variant, args);
	for (int i = 0; i < 3; i++)
		if (args[i].name)
			json_arg(j, &args[i], a->args[i]);
	if (a->fn == HT_FN_NEW || a->fn == HT_FN_DELETE) {
		json_kv_bool(j, "array", a->variant & HT_VAR_ARRAY);
		if (a->variant & HT_VAR_NOTHROW)
			json_kv_bool(j, "nothrow", true);
	}
	json_aliases(j, a->aliases);
	if (ht_alloc_desc(a->fn)->is_free) {
		json_kv_addr(j, "caller", a->caller);
		return;
	}
	if (a->hdr.flags & HT_F_NO_RETURN)
		json_kv_bool(j, "no_return", true);
	if (a->fn == HT_FN_POSIX_MEMALIGN)
		json_kv_s64(j, "ret", (int32_t)a->ret);
	json_key(j, "addr");
	if (a->addr)
		json_addr(j, a->addr);
	else
		json_null(j);
	json_kv_u64(j, "lat_ns", a->lat_ns);
	json_kv_addr(j, "caller", a->caller);
	if (a->stack_id)
		json_kv_addr(j, "stack_id", a->stack_id);
}

static void json_syscall(struct json *j, const struct ht_syscall *s)
{
	const struct ht_sys_desc *d = ht_sys_desc(s->sys);
	char buf[16];
	int err;

	json_kv_string(j, "syscall", d->name);
	for (int i = 0; i < 6 && d->args[i].name; i++)
		json_arg(j, &d->args[i], s->args[i]);
	if (ht_syscall_failed(s, &err)) {
		if (s->sys == HT_SYS_BRK)
			json_kv_addr(j, "ret", s->ret);
		else
			json_kv_s64(j, "ret", s->ret);
		json_kv_string(j, "errno", ht_errno_name(err, buf, sizeof(buf)));
	} else if (d->returns_addr) {
		json_kv_addr(j, "ret", s->ret);
	} else {
		json_kv_s64(j, "ret", s->ret);
	}
	json_kv_u64(j, "lat_ns", s->lat_ns);
	if (s->hdr.flags & HT_F_IN_ALLOC)
		json_kv_bool(j, "in_alloc", true);
}

static void json_kfunc(struct json *j, const struct ht_kfunc_rec *k)
{
	json_kv_string(j, "via", ht_kfunc_name(k->kfunc));
	json_kv_addr(j, "addr", k->start);
	json_kv_u64(j, "len", k->len);
	if (k->kfunc == HT_KF_DO_MMAP) {
		json_kv_u64(j, "prot", k->prot);
		json_kv_u64(j, "flags", k->flags);
	} else if (k->kfunc == HT_KF_MPROTECT_FIXUP || k->kfunc == HT_KF_DO_BRK_FLAGS) {
		json_kv_u64(j, "vm_flags", k->flags);
	}
	if (k->kfunc == HT_KF_DO_MMAP && !(k->ret < 0 && k->ret >= -4095))
		json_kv_addr(j, "ret", k->ret);
	else
		json_kv_s64(j, "ret", k->ret);
	if (k->hdr.flags & HT_F_IN_SYSCALL)
		json_kv_bool(j, "in_syscall", true);
	if (k->hdr.flags & HT_F_IN_ALLOC)
		json_kv_bool(j, "in_alloc", true);
}

/* "name+0x1f [module]" of a kernel address, or NULL */
static const char *ksym_text(struct ksyms *ks, uint64_t addr, char *buf, size_t len)
{
	const char *module = NULL, *name;
	uint64_t off;

	name = ks ? ksyms_lookup(ks, addr, &off, &module) : NULL;
	if (!name)
		return NULL;
	snprintf(buf, len, "%s+0x%" PRIx64 "%s%s%s", name, off, module ? " [" : "",
		 module ? module : "", module ? "]" : "");
	return buf;
}

static void json_kmem(struct json *j, const struct ht_kmem *k, struct ksyms *ks)
{
	char gfp[256];

	json_kv_addr(j, "ptr", k->ptr);
	if (k->call_site) {
		const char *sym = ksym_text(ks, k->call_site, gfp, sizeof(gfp));

		json_kv_addr(j, "call_site", k->call_site);
		if (sym)
			json_kv_string(j, "call_site_sym", sym);
	}
	if (k->kind == HT_KA_PAGE)
		json_kv_u64(j, "order", k->order);
	if (k->op == HT_KOP_FREE)
		return;
	json_kv_u64(j, "bytes_req", k->bytes_req);
	json_kv_u64(j, "bytes_alloc", k->bytes_alloc);
	json_kv_u64(j, "gfp_flags", k->gfp_flags);
	json_kv_string(j, "gfp", ht_gfp_format(k->gfp_flags, gfp, sizeof(gfp)));
	json_kv_s64(j, "node", k->node);
	if (k->cache_name[0]) {
		char name[HT_KCACHE_LEN + 1];

		snprintf(name, sizeof(name), "%.*s", HT_KCACHE_LEN, k->cache_name);
		json_kv_string(j, "cache", name);
	}
	if (k->stack_id)
		json_kv_u64(j, "stack_id", k->stack_id);
	json_kv_bool(j, "missed_free", k->hdr.flags & HT_F_KMEM_REUSED);
}

static void json_exit_status(struct json *j, int status)
{
	json_kv_s64(j, "status", status);
	if (WIFSIGNALED(status)) {
		json_kv_string(j, "signal", sigabbrev_np(WTERMSIG(status)) ?: "?");
	} else {
		json_kv_s64(j, "exit_code", WEXITSTATUS(status));
	}
}

void event_fmt_json(struct json *j, const struct ht_hdr *rec, const struct event_fmt_ctx *ctx)
{
	int kind = ht_rec_kind(rec);

	json_object_begin(j);
	json_kv_u64(j, "ts_ns", rec->ts_ns);
	json_kv_u64(j, "pid", rec->pid);
	json_kv_u64(j, "tid", rec->tid);
	json_kv_string(j, "comm", ctx->comm ? ctx->comm : "");
	json_kv_string(j, "event", ht_kind_name(kind));
	switch (rec->type) {
	case HT_REC_ALLOC:
		json_alloc(j, (const struct ht_alloc *)rec);
		break;
	case HT_REC_SYSCALL:
		json_syscall(j, (const struct ht_syscall *)rec);
		break;
	case HT_REC_KFUNC:
		json_kfunc(j, (const struct ht_kfunc_rec *)rec);
		break;
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;

		json_kv_addr(j, "address", f->address);
		json_kv_addr(j, "ip", f->ip);
		json_kv_u64(j, "error_code", f->error_code);
		json_kv_bool(j, "write", f->error_code & HT_PF_WRITE);
		json_kv_bool(j, "exec", f->error_code & HT_PF_INSTR);
		json_kv_bool(j, "present", f->error_code & HT_PF_PROT);
		break;
	}
	case HT_REC_FORK: {
		const struct ht_fork *f = (const void *)rec;

		json_kv_u64(j, "child_pid", f->child_pid);
		if (f->child_ns_pid)
			json_kv_u64(j, "child_ns_pid", f->child_ns_pid);
		break;
	}
	case HT_REC_EXEC: {
		const struct ht_exec *e = (const void *)rec;

		json_kv_string(j, "filename", e->filename);
		json_kv_u64(j, "old_tid", e->old_tid);
		if (e->ns_pid)
			json_kv_u64(j, "ns_pid", e->ns_pid);
		break;
	}
	case HT_REC_EXIT:
		json_exit_status(j, ((const struct ht_exit *)rec)->exit_code);
		break;
	case HT_REC_RSS: {
		const struct ht_rss *r = (const void *)rec;

		json_kv_string(j, "member", ht_rss_member_name(r->member));
		json_kv_s64(j, "size", r->size);
		break;
	}
	case HT_REC_LOST: {
		const struct ht_lost *l = (const void *)rec;

		json_kv_string(j, "kind", ht_lost_kind_name(l->kind));
		json_kv_u64(j, "count", l->count);
		break;
	}
	case HT_REC_KMEM:
		json_kmem(j, (const struct ht_kmem *)rec, ctx->ksyms);
		break;
	}
	json_object_end(j);
}

/* ---------------------------------------------------------------- text */

struct flag_name {
	uint64_t bit;
	const char *name;
};

static void print_flags(FILE *out, uint64_t v, const struct flag_name *names, const char *none)
{
	const char *sep = "";

	if (!v) {
		fputs(none, out);
		return;
	}
	for (const struct flag_name *f = names; f->name; f++) {
		if ((v & f->bit) == f->bit) {
			fprintf(out, "%s%s", sep, f->name);
			v &= ~f->bit;
			sep = "|";
		}
	}
	if (v)
		fprintf(out, "%s0x%" PRIx64, sep, v);
}

static const struct flag_name prot_names[] = {
	{ PROT_READ, "READ" }, { PROT_WRITE, "WRITE" }, { PROT_EXEC, "EXEC" }, { 0, NULL }
};

static const struct flag_name map_names[] = {
	{ MAP_SHARED, "SHARED" },
	{ MAP_PRIVATE, "PRIVATE" },
	{ MAP_FIXED, "FIXED" },
	{ MAP_ANONYMOUS, "ANONYMOUS" },
	{ MAP_GROWSDOWN, "GROWSDOWN" },
	{ MAP_DENYWRITE, "DENYWRITE" },
	{ MAP_EXECUTABLE, "EXECUTABLE" },
	{ MAP_LOCKED, "LOCKED" },
	{ MAP_NORESERVE, "NORESERVE" },
	{ MAP_POPULATE, "POPULATE" },
	{ MAP_NONBLOCK, "NONBLOCK" },
	{ MAP_STACK, "STACK" },
	{ MAP_HUGETLB, "HUGETLB" },
	{ MAP_FIXED_NOREPLACE, "FIXED_NOREPLACE" },
	{ 0, NULL },
};

static const struct flag_name mremap_names[] = {
	{ 1, "MAYMOVE" }, { 2, "FIXED" }, { 4, "DONTUNMAP" }, { 0, NULL }
};

static void text_arg(FILE *out, const struct ht_arg_desc *d, uint64_t v, unsigned sys)
{
	fprintf(out, "%s=", d->name);
	switch (d->kind) {
	case HT_ARGK_ADDR:
		fprintf(out, "0x%" PRIx64, v);
		break;
	case HT_ARGK_SIZE:
		fprintf(out, "%" PRIu64, v);
		break;
	case HT_ARGK_INT:
		fprintf(out, "%d", (int32_t)v);
		break;
	case HT_ARGK_HEX:
		if (!strcmp(d->name, "prot"))
			print_flags(out, v, prot_names, "NONE");
		else if (sys == HT_SYS_MMAP)
			print_flags(out, v, map_names, "0");
		else if (sys == HT_SYS_MREMAP)
			print_flags(out, v, mremap_names, "0");
		else
			fprintf(out, "0x%" PRIx64, v);
		break;
	case HT_ARGK_NONE:
		break;
	}
}

static void text_alloc(FILE *out, const struct ht_alloc *a)
{
	struct ht_arg_desc args[3];
	bool first = true;

	ht_alloc_args(a->fn, a->variant, args);
	fprintf(out, "%s%s(", ht_alloc_fn_name(a->fn, a->variant),
		a->variant & HT_VAR_NOTHROW ? "(nothrow)" : "");
	for (int i = 0; i < 3; i++) {
		if (!args[i].name)
			continue;
		if (!first)
			fputs(", ", out);
		text_arg(out, &args[i], a->args[i], 0);
		first = false;
	}
	fputc(')', out);
	if (ht_alloc_desc(a->fn)->is_free)
		return;
	if (a->hdr.flags & HT_F_NO_RETURN) {
		fputs(" did not return (an exception?)", out);
		return;
	}
	if (a->fn == HT_FN_POSIX_MEMALIGN && (int32_t)a->ret != 0) {
		char buf[16];

		fprintf(out, " = %s", ht_errno_name((int32_t)a->ret, buf, sizeof(buf)));
		return;
	}
	if (a->addr)
		fprintf(out, " = 0x%" PRIx64, (uint64_t)a->addr);
	else
		fputs(" = NULL", out);
	fprintf(out, "  <%" PRIu64 " ns>", (uint64_t)a->lat_ns);
	if (a->aliases) {
		fputs("  (same address as", out);
		for (unsigned fn = 1; fn < HT_FN_MAX; fn++)
			if (a->aliases & (1u << fn))
				fprintf(out, " %s", ht_alloc_desc(fn)->name);
		fputc(')', out);
	}
}

static void text_syscall(FILE *out, const struct ht_syscall *s)
{
	const struct ht_sys_desc *d = ht_sys_desc(s->sys);
	char buf[16];
	int err;

	fprintf(out, "%s(", d->name);
	for (int i = 0; i < 6 && d->args[i].name; i++) {
		if (i)
			fputs(", ", out);
		text_arg(out, &d->args[i], s->args[i], s->sys);
	}
	fputc(')', out);
	if (ht_syscall_failed(s, &err))
		fprintf(out, " = -1 %s (%s)", ht_errno_name(err, buf, sizeof(buf)), strerror(err));
	else if (d->returns_addr)
		fprintf(out, " = 0x%" PRIx64, (uint64_t)s->ret);
	else
		fprintf(out, " = %" PRId64, (int64_t)s->ret);
	fprintf(out, "  <%" PRIu64 " ns>", (uint64_t)s->lat_ns);
	if (s->hdr.flags & HT_F_IN_ALLOC)
		fputs("  [in allocator]", out);
}

void event_fmt_text(FILE *out, const struct ht_hdr *rec, const struct event_fmt_ctx *ctx)
{
	uint64_t rel = rec->ts_ns >= ctx->t0_ns ? rec->ts_ns - ctx->t0_ns : 0;

	fprintf(out, "%6" PRIu64 ".%06" PRIu64 " %7u %7u %-16s ", rel / 1000000000,
		rel % 1000000000 / 1000, rec->pid, rec->tid, ctx->comm ? ctx->comm : "");
	switch (rec->type) {
	case HT_REC_ALLOC:
		text_alloc(out, (const struct ht_alloc *)rec);
		break;
	case HT_REC_SYSCALL:
		text_syscall(out, (const struct ht_syscall *)rec);
		break;
	case HT_REC_KFUNC: {
		const struct ht_kfunc_rec *k = (const void *)rec;

		fprintf(out, "%s(addr=0x%" PRIx64 ", len=%" PRIu64 ") = %" PRId64 "%s",
			ht_kfunc_name(k->kfunc), (uint64_t)k->start, (uint64_t)k->len,
			(int64_t)k->ret,
			rec->flags & HT_F_IN_SYSCALL ? "" : "  [not from a syscall]");
		break;
	}
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;

		fprintf(out, "fault address=0x%" PRIx64 " ip=0x%" PRIx64 " %s %s",
			(uint64_t)f->address, (uint64_t)f->ip,
			f->error_code & HT_PF_INSTR   ? "exec"
			: f->error_code & HT_PF_WRITE ? "write"
						      : "read",
			f->error_code & HT_PF_PROT ? "present" : "not-present");
		break;
	}
	case HT_REC_FORK:
		fprintf(out, "fork child=%u", ((const struct ht_fork *)rec)->child_pid);
		break;
	case HT_REC_EXEC:
		fprintf(out, "exec %s", ((const struct ht_exec *)rec)->filename);
		break;
	case HT_REC_EXIT: {
		int status = ((const struct ht_exit *)rec)->exit_code;

		if (WIFSIGNALED(status))
			fprintf(out, "exit signal=%s", sigabbrev_np(WTERMSIG(status)) ?: "?");
		else
			fprintf(out, "exit code=%d", WEXITSTATUS(status));
		break;
	}
	case HT_REC_RSS: {
		const struct ht_rss *r = (const void *)rec;

		fprintf(out, "rss %s=%" PRId64, ht_rss_member_name(r->member), (int64_t)r->size);
		break;
	}
	case HT_REC_LOST: {
		const struct ht_lost *l = (const void *)rec;

		fprintf(out, "LOST %" PRIu64 " events (%s)", (uint64_t)l->count,
			ht_lost_kind_name(l->kind));
		break;
	}
	case HT_REC_KMEM: {
		const struct ht_kmem *k = (const void *)rec;
		char gfp[256];

		fprintf(out, "%s ptr=0x%" PRIx64, ht_kind_name(ht_rec_kind(rec)), (uint64_t)k->ptr);
		if (k->kind == HT_KA_PAGE)
			fprintf(out, " order=%u", k->order);
		if (k->op == HT_KOP_ALLOC) {
			if (k->cache_name[0])
				fprintf(out, " cache=%.*s", HT_KCACHE_LEN, k->cache_name);
			fprintf(out, " req=%" PRIu64 " alloc=%" PRIu64 " gfp=%s node=%d",
				(uint64_t)k->bytes_req, (uint64_t)k->bytes_alloc,
				ht_gfp_format(k->gfp_flags, gfp, sizeof(gfp)), k->node);
		}
		if (k->call_site) {
			const char *sym = ksym_text(ctx->ksyms, k->call_site, gfp, sizeof(gfp));

			if (sym)
				fprintf(out, " call_site=%s", sym);
			else
				fprintf(out, " call_site=0x%" PRIx64, (uint64_t)k->call_site);
		}
		break;
	}
	}
	fputc('\n', out);
}
