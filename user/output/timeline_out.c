// SPDX-License-Identifier: GPL-2.0-only
/*
 * Timeline outputs. Perfetto: counter tracks per series and process, instant events at the
 * markers, process and thread names. CSV: one row per point. SVG: a chart per process with a
 * time axis in s or ms, a byte axis in KiB/MiB/GiB, a line and a legend entry per series, and
 * dashed markers at the largest mappings.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "output/json.h"
#include "output/timeline_out.h"

void timeline_out_perfetto(FILE *f, const struct tl_process *procs, size_t n)
{
	struct json j;

	json_init(&j, f);
	json_object_begin(&j);
	json_kv_string(&j, "displayTimeUnit", "ms");
	json_key(&j, "traceEvents");
	json_array_begin(&j);
	for (size_t i = 0; i < n; i++) {
		const struct tl_process *p = &procs[i];
		char name[64];

		snprintf(name, sizeof(name), "%s (%u)", p->comm, p->pid);
		json_object_begin(&j);
		json_kv_string(&j, "ph", "M");
		json_kv_string(&j, "name", "process_name");
		json_kv_u64(&j, "pid", p->pid);
		json_key(&j, "args");
		json_object_begin(&j);
		json_kv_string(&j, "name", name);
		json_object_end(&j);
		json_object_end(&j);
		for (size_t t = 0; t < p->ntids; t++) {
			json_object_begin(&j);
			json_kv_string(&j, "ph", "M");
			json_kv_string(&j, "name", "thread_name");
			json_kv_u64(&j, "pid", p->pid);
			json_kv_u64(&j, "tid", p->tids[t]);
			json_key(&j, "args");
			json_object_begin(&j);
			snprintf(name, sizeof(name), "%s/%u", p->comm, p->tids[t]);
			json_kv_string(&j, "name", name);
			json_object_end(&j);
			json_object_end(&j);
		}
		for (size_t s = 0; s < p->nseries; s++) {
			for (size_t k = 0; k < p->series[s].n; k++) {
				json_object_begin(&j);
				json_kv_string(&j, "ph", "C");
				json_kv_string(&j, "name", p->series[s].name);
				json_kv_u64(&j, "pid", p->pid);
				json_key(&j, "ts"); /* microseconds */
				json_double(&j, (double)p->series[s].pts[2 * k] / 1000.0);
				json_key(&j, "args");
				json_object_begin(&j);
				json_kv_u64(&j, p->series[s].unit, p->series[s].pts[2 * k + 1]);
				json_object_end(&j);
				json_object_end(&j);
			}
		}
		for (size_t m = 0; m < p->nmarkers; m++) {
			json_object_begin(&j);
			json_kv_string(&j, "ph", "i");
			json_kv_string(&j, "s", "p");
			json_kv_string(&j, "name", p->markers[m].label);
			json_kv_u64(&j, "pid", p->pid);
			json_kv_u64(&j, "tid", p->pid);
			json_key(&j, "ts");
			json_double(&j, (double)p->markers[m].ts_ns / 1000.0);
			json_key(&j, "args");
			json_object_begin(&j);
			json_kv_u64(&j, "bytes", p->markers[m].bytes);
			json_object_end(&j);
			json_object_end(&j);
		}
	}
	json_array_end(&j);
	json_object_end(&j);
	fputc('\n', f);
}

void timeline_out_csv(FILE *f, const struct tl_process *procs, size_t n)
{
	fprintf(f, "pid,comm,series,unit,ts_ns,seconds,value\n");
	for (size_t i = 0; i < n; i++)
		for (size_t s = 0; s < procs[i].nseries; s++)
			for (size_t k = 0; k < procs[i].series[s].n; k++) {
				uint64_t ts = procs[i].series[s].pts[2 * k];

				fprintf(f, "%u,\"%s\",%s,%s,%" PRIu64 ",%.6f,%" PRIu64 "\n",
					procs[i].pid, procs[i].comm, procs[i].series[s].name,
					procs[i].series[s].unit, ts,
					(double)(ts - procs[i].start_ns) / 1e9,
					procs[i].series[s].pts[2 * k + 1]);
			}
}

/* ---------------------------------------------------------------- SVG */

#define W	    960
#define H	    400
#define ML	    90 /* margins: left for the byte labels, bottom for the time labels */
#define MR	    20
#define MT	    40
#define MB	    95
#define SVG_MARKERS 5

static const char *const colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				      "#9467bd", "#8c564b", "#e377c2" };

/* A tick step of 1, 2 or 5 times a power of `base` that gives about `want` ticks. */
static double nice_step(double range, int want, double base)
{
	double raw = range / want, p = pow(base, floor(log(raw) / log(base))), m = raw / p;

	return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

static void human_bytes(double v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v == floor(v) ? "%.0f %s" : "%.1f %s", v, units[u]);
}

static void escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

/* One chart's frame: where it is, and the time and byte ranges it shows. */
struct svg_frame {
	int y0;
	uint64_t t_min, t_max, v_max;
	double tspan;
};

static double svg_x(const struct svg_frame *c, double t)
{
	return ML + (t - (double)c->t_min) / c->tspan * (W - ML - MR);
}

static double svg_y(const struct svg_frame *c, double v)
{
	return c->y0 + MT + (H - MT - MB) * (1.0 - v / ((double)c->v_max * 1.08));
}

/* The ranges of the byte series and the markers (at least the process's start). */
static void svg_extent(const struct tl_process *p, struct svg_frame *c)
{
	c->t_min = UINT64_MAX;
	c->t_max = c->v_max = 0;
	for (size_t s = 0; s < p->nseries; s++) {
		if (strcmp(p->series[s].unit, "bytes"))
			continue;
		for (size_t k = 0; k < p->series[s].n; k++) {
			uint64_t t = p->series[s].pts[2 * k], v = p->series[s].pts[2 * k + 1];

			c->t_min = t < c->t_min ? t : c->t_min;
			c->t_max = t > c->t_max ? t : c->t_max;
			c->v_max = v > c->v_max ? v : c->v_max;
		}
	}
	for (size_t m = 0; m < p->nmarkers; m++) {
		c->t_min = p->markers[m].ts_ns < c->t_min ? p->markers[m].ts_ns : c->t_min;
		c->t_max = p->markers[m].ts_ns > c->t_max ? p->markers[m].ts_ns : c->t_max;
	}
	if (c->t_min == UINT64_MAX)
		c->t_min = c->t_max = p->start_ns;
	if (p->start_ns < c->t_min)
		c->t_min = p->start_ns;
	c->tspan = (double)(c->t_max - c->t_min);
	if (c->tspan <= 0)
		c->tspan = 1e6;
	if (!c->v_max)
		c->v_max = 4096;
}

/* The title, the frame, the grid with its labels, the axis names. */
static void svg_axes(FILE *f, const struct tl_process *p, const struct svg_frame *c)
{
	const char *tunit = c->tspan >= 2e9 ? "s" : "ms";
	double unit_div = c->tspan >= 2e9 ? 1e9 : 1e6;
	double tstep = nice_step(c->tspan / unit_div, 8, 10);
	double vstep = nice_step((double)c->v_max, 5, 2);
	int y0 = c->y0;

	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"16\" font-weight=\"bold\">pid %u (", ML,
		y0 + 24, p->pid);
	escape(f, p->comm);
	fprintf(f, "): memory over time</text>\n");
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"#444\"/>\n",
		ML, y0 + MT, W - ML - MR, H - MT - MB);
	for (double v = 0; v <= (double)c->v_max * 1.08; v += vstep) {
		char label[32];

		human_bytes(v, label, sizeof(label));
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			ML, W - MR, svg_y(c, v), svg_y(c, v));
		fprintf(f,
			"<text x=\"%d\" y=\"%.1f\" font-size=\"11\" "
			"text-anchor=\"end\">%s</text>\n",
			ML - 6, svg_y(c, v) + 4, label);
	}
	for (double t = 0; t <= c->tspan / unit_div + 1e-9; t += tstep) {
		double x = svg_x(c, (double)c->t_min + t * unit_div);

		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n",
			x, x, y0 + MT, y0 + H - MB);
		fprintf(f,
			"<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
			"text-anchor=\"middle\">%g</text>\n",
			x, y0 + H - MB + 16, t);
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">time since start "
		"(%s)</text>\n",
		(ML + W - MR) / 2, y0 + H - MB + 34, tunit);
	fprintf(f,
		"<text x=\"18\" y=\"%d\" font-size=\"12\" transform=\"rotate(-90 18 %d)\" "
		"text-anchor=\"middle\">bytes</text>\n",
		y0 + (MT + H - MB) / 2, y0 + (MT + H - MB) / 2);
}

/* Markers at the largest mappings: the SVG_MARKERS biggest, labels reading down. */
static void svg_markers(FILE *f, const struct tl_process *p, const struct svg_frame *c)
{
	for (size_t shown = 0, last = SIZE_MAX; shown < SVG_MARKERS; shown++) {
		size_t best = SIZE_MAX;
		double x;

		for (size_t m = 0; m < p->nmarkers; m++)
			if ((last == SIZE_MAX || p->markers[m].bytes < p->markers[last].bytes ||
			     (p->markers[m].bytes == p->markers[last].bytes && m > last)) &&
			    (best == SIZE_MAX || p->markers[m].bytes > p->markers[best].bytes))
				best = m;
		if (best == SIZE_MAX)
			break;
		last = best;
		x = svg_x(c, (double)p->markers[best].ts_ns);
		fprintf(f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#888\" "
			"stroke-dasharray=\"4,3\"/>\n",
			x, x, c->y0 + MT, c->y0 + H - MB);
		fprintf(f,
			"<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555\" "
			"transform=\"rotate(90 %.1f %d)\">",
			x + 4, c->y0 + MT + 6, x + 4, c->y0 + MT + 6);
		escape(f, p->markers[best].label);
		fprintf(f, "</text>\n");
	}
}

/* One line per byte series, in steps (a value holds until the next point), and its legend. */
static void svg_lines(FILE *f, const struct tl_process *p, const struct svg_frame *c)
{
	int ncolor = 0;

	for (size_t s = 0; s < p->nseries; s++) {
		const struct tl_series *se = &p->series[s];
		const char *color = colors[ncolor % (sizeof(colors) / sizeof(colors[0]))];
		int lx = ML + 10 + ncolor * 130;

		if (strcmp(se->unit, "bytes"))
			continue;
		ncolor++;
		if (se->n) {
			fprintf(f,
				"<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
				"points=\"",
				color);
			for (size_t k = 0; k < se->n; k++) {
				double x = svg_x(c, (double)se->pts[2 * k]);

				if (k)
					fprintf(f, "%.1f,%.1f ", x,
						svg_y(c, (double)se->pts[2 * k - 1]));
				fprintf(f, "%.1f,%.1f ", x, svg_y(c, (double)se->pts[2 * k + 1]));
			}
			fprintf(f, "%.1f,%.1f\"/>\n", svg_x(c, (double)c->t_max),
				svg_y(c, (double)se->pts[2 * se->n - 1]));
		}
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>\n", lx,
			c->y0 + H - 30, color);
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>\n", lx + 18,
			c->y0 + H - 25, se->name);
	}
}

static void svg_chart(FILE *f, const struct tl_process *p, int y0)
{
	struct svg_frame c = { .y0 = y0 };

	svg_extent(p, &c);
	svg_axes(f, p, &c);
	svg_markers(f, p, &c);
	svg_lines(f, p, &c);
}

void timeline_out_svg(FILE *f, const struct tl_process *procs, size_t n)
{
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%zu\" "
		"font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" "
		"fill=\"white\"/>\n",
		W, (n ? n : 1) * H);
	for (size_t i = 0; i < n; i++)
		svg_chart(f, &procs[i], (int)(i * H));
	fprintf(f, "</svg>\n");
}
