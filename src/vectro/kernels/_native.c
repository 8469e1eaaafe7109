/* C kernels for the int8 path: per-vector abs-max encode (and nf4's) and decode, single-query int8 scoring, shortlist
 * re-scoring, the top-k of a shortlist and of a scan; and few-query scoring of packed 2- and 4-bit codes (int2, int4,
 * nf4, rq:2, rq:4) with their levels looked up in registers. Built at install where a C compiler is found (an optional
 * extension: without one, numba's kernels do the same jobs). They do what numba's do in a process
 * that never loads numba and LLVM: about 150 MiB less resident memory (a `vectro serve` process).
 *
 * Arrays arrive through the buffer protocol, C-contiguous; the GIL is released while they run.
 * Encode rounds exactly as NumPy does (float32 division, rint: ties to even), so both paths write
 * the same bytes; scores may sum in another order (vectorised), as numba's fastmath kernels do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__linux__)
/* one build runs everywhere: the loader (an ifunc, GCC on Linux) picks the AVX-512 or AVX2 clone
 * where the CPU has it */
#define VECTRO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTRO_CLONES
#endif

/* the rows first..last-1 that this OpenMP thread takes of n (all of them outside a parallel region) */
static inline void thread_rows(Py_ssize_t n, Py_ssize_t *first, Py_ssize_t *last) {
#ifdef _OPENMP
    int t = omp_get_thread_num(), count = omp_get_num_threads();
#else
    int t = 0, count = 1;
#endif
    *first = n * t / count, *last = n * (t + 1) / count;
}

static inline float row_scale(const uint8_t *row, Py_ssize_t at) {
    float s;
    memcpy(&s, row + at, sizeof s); /* little-endian float32 after the codes; any alignment */
    return s;
}

/* ----- encode ----------------------------------------------------------------------------- */
/* max |x_j| of a row, read from the bits (finite floats order as their bits, and Inf and NaN lie above
 * every finite one: an integer max that vectorises); *bad says whether the row holds Inf or NaN */
static inline float abs_peak(const float *x, Py_ssize_t dim, uint8_t *bad) {
    uint32_t peak = 0;
    for (Py_ssize_t j = 0; j < dim; j++) {
        uint32_t b;
        memcpy(&b, x + j, 4);
        b &= 0x7FFFFFFFu;
        peak = b > peak ? b : peak;
    }
    *bad = peak >= 0x7F800000u;
    float value;
    memcpy(&value, &peak, 4);
    return value;
}

static inline int32_t level(float value, float scale, int32_t qmax) {
    int32_t v = (int32_t)rintf(value / scale);
    return v < -qmax ? -qmax : (v > qmax ? qmax : v);
}

VECTRO_CLONES
static void absmax_encode_rows(const float *X, Py_ssize_t n, Py_ssize_t dim, uint8_t *out, Py_ssize_t width,
                               uint8_t *bad, int32_t qmax, int bits, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n * dim >= (1 << 18))
    for (Py_ssize_t i = 0; i < n; i++) {
        const float *x = X + i * dim;
        uint8_t *row = out + i * width;
        float scale = abs_peak(x, dim, bad + i) / (float)qmax;
        if (scale == 0.0f)
            scale = 1.0f;
        if (bits == 8) {
            for (Py_ssize_t j = 0; j < dim; j++)
                row[j] = (uint8_t)(level(x[j], scale, qmax) & 0xFF);
        } else if (bits == 16) {
            for (Py_ssize_t j = 0; j < dim; j++) {
                int32_t v = level(x[j], scale, qmax);
                row[2 * j] = (uint8_t)(v & 0xFF);
                row[2 * j + 1] = (uint8_t)((v >> 8) & 0xFF);
            }
        } else { /* 4 bits, two per byte, low nibble first, offset binary */
            for (Py_ssize_t p = 0; p < dim / 2; p++)
                row[p] = (uint8_t)((level(x[2 * p], scale, qmax) + 8) | ((level(x[2 * p + 1], scale, qmax) + 8) << 4));
            if (dim % 2)
                row[dim / 2] = (uint8_t)(level(x[dim - 1], scale, qmax) + 8);
        }
        memcpy(row + width - 4, &scale, 4);
    }
}

/* nearest of 2**bits levels on a per-vector abs-max scale (nf4): the code is how many of the sorted
 * thresholds lie below x / max|x|, counted threshold by threshold over the row (a loop that
 * vectorises), then packed low value first; the scale follows the packed codes */
VECTRO_CLONES
static void codebook_encode_block(const float *X, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t dim, uint8_t *out,
                                  Py_ssize_t width, uint8_t *bad, const float *thresholds, int count, int bits,
                                  float *values, int32_t *codes) {
    int per_byte = 8 / bits;
    for (Py_ssize_t i = start; i < stop; i++) {
        const float *x = X + i * dim;
        uint8_t *row = out + i * width;
        float scale = abs_peak(x, dim, bad + i);
        if (scale == 0.0f)
            scale = 1.0f;
        for (Py_ssize_t j = 0; j < dim; j++) {
            values[j] = x[j] / scale;
            codes[j] = 0;
        }
        for (int t = 0; t < count; t++) {
            float edge = thresholds[t];
            for (Py_ssize_t j = 0; j < dim; j++)
                codes[j] += values[j] > edge;
        }
        for (Py_ssize_t b = 0; b < (dim + per_byte - 1) / per_byte; b++) {
            unsigned byte = 0;
            for (int t = 0; t < per_byte && b * per_byte + t < dim; t++)
                byte |= (unsigned)codes[b * per_byte + t] << (t * bits);
            row[b] = (uint8_t)byte;
        }
        memcpy(row + width - 4, &scale, 4);
    }
}

/* rq codes of up to 16 levels: values[j] = how many of the `count` ascending thresholds lie strictly below z_j
 * (NaN: none), and level[j] = table[values[j]] (table: the levels, padded to 16) */
static void count_levels_plain(const float *z, Py_ssize_t dim, const float *thresholds, int count, const float *table,
                               int32_t *values, float *level) {
    for (Py_ssize_t j = 0; j < dim; j++) {
        int v = 0;
        for (int t = 0; t < count; t++)
            v += z[j] > thresholds[t];
        values[j] = v, level[j] = table[v];
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* 4-bit codes with at most 15 sorted thresholds (nf4), 16 values a step: a branch-free binary search,
 * each probe one permute of the thresholds (padded with +inf) and one compare; then each pair of
 * codes becomes a byte (low value first) */
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void nibble_search_rows(const float *X, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t dim, uint8_t *out,
                               Py_ssize_t width, uint8_t *bad, const float *thresholds, int count) {
    float table[16];
    for (int t = 0; t < 16; t++)
        table[t] = t < count ? thresholds[t] : INFINITY;
    const __m512 edges = _mm512_loadu_ps(table);
    const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2), four = _mm512_set1_epi32(4),
                  eight = _mm512_set1_epi32(8), three = _mm512_set1_epi32(3), seven = _mm512_set1_epi32(7);
    const __m128i pair = _mm_set1_epi16(0x1001); /* byte 2i + 16 * byte 2i+1 */
    for (Py_ssize_t i = start; i < stop; i++) {
        const float *x = X + i * dim;
        uint8_t *row = out + i * width;
        float scale = abs_peak(x, dim, bad + i);
        if (scale == 0.0f)
            scale = 1.0f;
        const __m512 s = _mm512_set1_ps(scale);
        Py_ssize_t j = 0;
        for (; j + 16 <= dim; j += 16) {
            __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + j), s);
            __m512i at = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(v, _mm512_permutexvar_ps(seven, edges), _CMP_GT_OQ), eight);
            at = _mm512_mask_add_epi32(at, _mm512_cmp_ps_mask(v, _mm512_permutexvar_ps(_mm512_add_epi32(at, three), edges), _CMP_GT_OQ), at, four);
            at = _mm512_mask_add_epi32(at, _mm512_cmp_ps_mask(v, _mm512_permutexvar_ps(_mm512_add_epi32(at, one), edges), _CMP_GT_OQ), at, two);
            at = _mm512_mask_add_epi32(at, _mm512_cmp_ps_mask(v, _mm512_permutexvar_ps(at, edges), _CMP_GT_OQ), at, one);
            __m128i bytes = _mm512_cvtepi32_epi8(at);
            __m128i packed = _mm_packus_epi16(_mm_maddubs_epi16(bytes, pair), _mm_setzero_si128());
            _mm_storel_epi64((__m128i *)(row + j / 2), packed);
        }
        for (; j < dim; j += 2) { /* the last values, two to a byte */
            unsigned byte = 0;
            for (Py_ssize_t t = j; t < j + 2 && t < dim; t++) {
                float v = x[t] / scale;
                unsigned code = 0;
                for (int e = 0; e < count; e++)
                    code += v > thresholds[e];
                byte |= code << (4 * (t - j));
            }
            row[j / 2] = (uint8_t)byte;
        }
        memcpy(row + width - 4, &scale, 4);
    }
}

static int has_avx512bw(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#endif

static int nibble_search = 0; /* AVX-512 BW: set at module load */

/* `thresholds` sorted ascending (the wrapper checks) */
static int codebook_encode_rows(const float *X, Py_ssize_t n, Py_ssize_t dim, uint8_t *out, Py_ssize_t width,
                                uint8_t *bad, const float *thresholds, int count, int bits, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && n * dim >= (1 << 18))
    {
        float *values = malloc((dim ? dim : 1) * sizeof *values); /* this thread's scratch row */
        int32_t *codes = malloc((dim ? dim : 1) * sizeof *codes);
        Py_ssize_t first, last;
        thread_rows(n, &first, &last);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (nibble_search && bits == 4 && count <= 15)
            nibble_search_rows(X, first, last, dim, out, width, bad, thresholds, count);
        else
#endif
        if (values && codes)
            codebook_encode_block(X, first, last, dim, out, width, bad, thresholds, count, bits, values, codes);
        else
#pragma omp atomic write
            failed = 1;
        free(values);
        free(codes);
    }
    return failed ? -1 : 0;
}

VECTRO_CLONES
static void absmax_decode_rows(const uint8_t *codes, Py_ssize_t n, Py_ssize_t dim, Py_ssize_t width, float *out,
                               int bits, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n * dim >= (1 << 18))
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *row = codes + i * width;
        float scale = row_scale(row, width - 4), *x = out + i * dim;
        if (bits == 8) {
            for (Py_ssize_t j = 0; j < dim; j++)
                x[j] = (float)(int8_t)row[j] * scale;
        } else if (bits == 16) {
            for (Py_ssize_t j = 0; j < dim; j++)
                x[j] = (float)(int16_t)(uint16_t)(row[2 * j] | (row[2 * j + 1] << 8)) * scale;
        } else {
            for (Py_ssize_t j = 0; j < dim; j++)
                x[j] = ((float)((row[j >> 1] >> (4 * (j & 1))) & 15) - 8.0f) * scale;
        }
    }
}

/* ----- packed 2- and 4-bit codes through their table of levels ----------------------------
 * Rows pack d values of `bits` bits, low bits first; a row's score is its scale times
 * sum_j q_j * levels[v_j], or with groups (int4:32) the sum over each group of `group` values of
 * its own scale times its part of that sum, the scales following one another from scale_at. The
 * SIMD paths look the levels up in registers (a permute of 16 or 4 floats), so no table is read
 * from memory and nothing is built per query. */
typedef struct {
    const float *Q;
    Py_ssize_t nq, dim;
    const uint8_t *codes;
    Py_ssize_t n, width, scale_at;
    Py_ssize_t group; /* values per scale (dim: one scale per row); group * bits a multiple of 8 */
    const float *levels; /* 16 floats; 2-bit codes use the first 4 */
    int bits;
    float *out;
} packed_job;

/* value j of a row packing `bits`-bit values, low bits first */
static inline int packed_value(const uint8_t *row, Py_ssize_t j, int bits) {
    int per_byte = 8 / bits;
    return (row[j / per_byte] >> (bits * (j % per_byte))) & ((1 << bits) - 1);
}

static float packed_dot_plain(const float *q, const uint8_t *row, Py_ssize_t dim, const float *levels, int bits) {
    float a0 = 0.0f, a1 = 0.0f;
    Py_ssize_t j = 0;
    for (; j + 1 < dim; j += 2) {
        a0 += q[j] * levels[packed_value(row, j, bits)];
        a1 += q[j + 1] * levels[packed_value(row, j + 1, bits)];
    }
    if (j < dim)
        a0 += q[j] * levels[packed_value(row, j, bits)];
    return a0 + a1;
}

#define PACKED_ROWS(name, dot)                                                                            \
    static void name(const packed_job *job, Py_ssize_t start, Py_ssize_t stop) {                          \
        for (Py_ssize_t i = start; i < stop; i++) {                                                       \
            const uint8_t *row = job->codes + i * job->width;                                             \
            for (Py_ssize_t q = 0; q < job->nq; q++) {                                                    \
                const float *query = job->Q + q * job->dim;                                               \
                float total = 0.0f;                                                                       \
                for (Py_ssize_t j = 0, at = job->scale_at; j < job->dim; j += job->group, at += 4) {      \
                    Py_ssize_t count = job->dim - j < job->group ? job->dim - j : job->group;             \
                    float part = dot(query + j, row + j * job->bits / 8, count, job->levels, job->bits);  \
                    total += part * row_scale(row, at);                                                   \
                }                                                                                         \
                job->out[q * job->n + i] = total;                                                         \
            }                                                                                             \
        }                                                                                                 \
    }
PACKED_ROWS(packed_rows_plain, packed_dot_plain)

/* ----- scoring: an AVX2+FMA path picked at load where the CPU has it, plain C elsewhere ----- */
static float int8_dot_plain(const float *q, const int8_t *c, Py_ssize_t dim) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f; /* four sums: adds do not wait on each other */
    Py_ssize_t j = 0;
    for (; j + 4 <= dim; j += 4) {
        a0 += q[j] * (float)c[j];
        a1 += q[j + 1] * (float)c[j + 1];
        a2 += q[j + 2] * (float)c[j + 2];
        a3 += q[j + 3] * (float)c[j + 3];
    }
    for (; j < dim; j++)
        a0 += q[j] * (float)c[j];
    return (a0 + a1) + (a2 + a3);
}

typedef float (*dot_fn)(const float *q, const int8_t *c, Py_ssize_t dim);

/* rows start..stop-1 of codes against every query: out[q * n + i]; SCALED: times the row's float32
 * scale stored after its dim codes (int8), or not (float32 rows are the vectors themselves) */
#define SCORE_ROWS(name, dot, SCALED)                                                                    \
    static void name(const float *Q, Py_ssize_t nq, const uint8_t *codes, Py_ssize_t start, Py_ssize_t stop, \
                     Py_ssize_t n, Py_ssize_t width, Py_ssize_t dim, float *out) {                          \
        for (Py_ssize_t i = start; i < stop; i++) {                                                       \
            const uint8_t *row = codes + i * width;                                                       \
            float scale = SCALED ? row_scale(row, dim) : 1.0f;                                            \
            for (Py_ssize_t q = 0; q < nq; q++)                                                           \
                out[q * n + i] = dot(Q + q * dim, (const void *)row, dim) * scale;                        \
        }                                                                                                 \
    }

/* int8 rows (codes, then their scale): for one query two at a time (DOT2 scores a pair: 1.4x on
 * AVX-512, 1.9x on AVX2 at 50k x 384), else (and the odd last row) one at a time with DOT */
#define SCORE_ROWS2(name, DOT2, DOT)                                                                     \
    static void name(const float *Q, Py_ssize_t nq, const uint8_t *codes, Py_ssize_t start, Py_ssize_t stop, \
                     Py_ssize_t n, Py_ssize_t width, Py_ssize_t dim, float *out) {                          \
        Py_ssize_t i = start;                                                                             \
        for (; nq == 1 && i + 2 <= stop; i += 2) { /* one query (a search): rows in pairs */              \
            const uint8_t *r0 = codes + i * width, *r1 = r0 + width;                                      \
            float s0, s1;                                                                                 \
            DOT2(Q, (const int8_t *)r0, (const int8_t *)r1, dim, &s0, &s1);                               \
            out[i] = s0 * row_scale(r0, dim);                                                             \
            out[i + 1] = s1 * row_scale(r1, dim);                                                         \
        }                                                                                                 \
        for (; i < stop; i++) {                                                                           \
            const uint8_t *row = codes + i * width;                                                       \
            float scale = row_scale(row, dim);                                                            \
            for (Py_ssize_t q = 0; q < nq; q++)                                                           \
                out[q * n + i] = DOT(Q + q * dim, (const int8_t *)row, dim) * scale;                      \
        }                                                                                                 \
    }

static float f32_dot_plain(const float *q, const float *x, Py_ssize_t dim) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    Py_ssize_t j = 0;
    for (; j + 4 <= dim; j += 4) {
        a0 += q[j] * x[j];
        a1 += q[j + 1] * x[j + 1];
        a2 += q[j + 2] * x[j + 2];
        a3 += q[j + 3] * x[j + 3];
    }
    for (; j < dim; j++)
        a0 += q[j] * x[j];
    return (a0 + a1) + (a2 + a3);
}

SCORE_ROWS(score_rows_plain, int8_dot_plain, 1)
SCORE_ROWS(f32_rows_plain, f32_dot_plain, 0)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define VECTRO_AVX2 __attribute__((target("avx2,fma")))

VECTRO_AVX2 static inline float hsum256(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* q . x: 32 values a step into four running sums, so consecutive multiply-adds do not wait on each
 * other; LOAD(at) gives x[at..at+8) as 8 floats (int8 codes: sign-extended to int32, converted) */
#define DOT_AVX2(name, type, LOAD)                                                                      \
    VECTRO_AVX2 static inline float name(const float *q, const type *x, Py_ssize_t dim) {              \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),         \
               a3 = _mm256_setzero_ps();                                                                \
        Py_ssize_t j = 0;                                                                               \
        for (; j + 32 <= dim; j += 32) {                                                                \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), LOAD(j), a0);                                  \
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), LOAD(j + 8), a1);                          \
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 16), LOAD(j + 16), a2);                        \
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 24), LOAD(j + 24), a3);                        \
        }                                                                                               \
        for (; j + 8 <= dim; j += 8)                                                                    \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), LOAD(j), a0);                                  \
        float acc = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));             \
        for (; j < dim; j++)                                                                            \
            acc += q[j] * (float)x[j];                                                                  \
        return acc;                                                                                     \
    }
#define INT8_X8(at) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + (at)))))
#define FLOAT_X8(at) _mm256_loadu_ps(x + (at))
DOT_AVX2(int8_dot_avx2, int8_t, INT8_X8)
DOT_AVX2(f32_dot_avx2, float, FLOAT_X8)

/* two rows against one query at once: each query load serves both, and the two rows' sums (two
 * each) keep four multiply-adds in flight */
#define DOT2_AVX2(name, type, LOAD)                                                                     \
    VECTRO_AVX2 static inline __attribute__((always_inline)) void name(const float *q, const type *x0, const type *x1, Py_ssize_t dim, \
                                        float *s0, float *s1) {                                         \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(),          \
               b1 = _mm256_setzero_ps();                                                                \
        Py_ssize_t j = 0;                                                                               \
        for (; j + 16 <= dim; j += 16) {                                                                \
            __m256 q0 = _mm256_loadu_ps(q + j), q1 = _mm256_loadu_ps(q + j + 8);                        \
            a0 = _mm256_fmadd_ps(q0, LOAD(x0, j), a0);                                                  \
            b0 = _mm256_fmadd_ps(q0, LOAD(x1, j), b0);                                                  \
            a1 = _mm256_fmadd_ps(q1, LOAD(x0, j + 8), a1);                                              \
            b1 = _mm256_fmadd_ps(q1, LOAD(x1, j + 8), b1);                                              \
        }                                                                                               \
        float t0 = hsum256(_mm256_add_ps(a0, a1)), t1 = hsum256(_mm256_add_ps(b0, b1));                \
        for (; j < dim; j++) {                                                                          \
            t0 += q[j] * (float)x0[j];                                                                  \
            t1 += q[j] * (float)x1[j];                                                                  \
        }                                                                                               \
        *s0 = t0, *s1 = t1;                                                                             \
    }
#define INT8_ROW8(x, at) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((x) + (at)))))
DOT2_AVX2(int8_dot2_avx2, int8_t, INT8_ROW8)
VECTRO_AVX2 SCORE_ROWS2(score_rows_avx2, int8_dot2_avx2, int8_dot_avx2)
VECTRO_AVX2 SCORE_ROWS(f32_rows_avx2, f32_dot_avx2, 0) /* float32 rows in pairs ran 2x slower: memory-bound */

#define VECTRO_AVX512 __attribute__((target("avx512f")))

/* the same, 16 values per register */
#define DOT_AVX512(name, type, LOAD)                                                                    \
    VECTRO_AVX512 static inline float name(const float *q, const type *x, Py_ssize_t dim) {            \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),         \
               a3 = _mm512_setzero_ps();                                                                \
        Py_ssize_t j = 0;                                                                               \
        for (; j + 64 <= dim; j += 64) {                                                                \
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), LOAD(j), a0);                                  \
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 16), LOAD(j + 16), a1);                        \
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 32), LOAD(j + 32), a2);                        \
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 48), LOAD(j + 48), a3);                        \
        }                                                                                               \
        for (; j + 16 <= dim; j += 16)                                                                  \
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), LOAD(j), a0);                                  \
        float acc = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
        for (; j < dim; j++)                                                                            \
            acc += q[j] * (float)x[j];                                                                  \
        return acc;                                                                                     \
    }
#define INT8_X16(at) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(x + (at)))))
#define FLOAT_X16(at) _mm512_loadu_ps(x + (at))
DOT_AVX512(int8_dot_avx512, int8_t, INT8_X16)
DOT_AVX512(f32_dot_avx512, float, FLOAT_X16)

#define DOT2_AVX512(name, type, LOAD)                                                                   \
    VECTRO_AVX512 static inline __attribute__((always_inline)) void name(const float *q, const type *x0, const type *x1, Py_ssize_t dim, \
                                          float *s0, float *s1) {                                       \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps(),          \
               b1 = _mm512_setzero_ps();                                                                \
        Py_ssize_t j = 0;                                                                               \
        for (; j + 32 <= dim; j += 32) {                                                                \
            __m512 q0 = _mm512_loadu_ps(q + j), q1 = _mm512_loadu_ps(q + j + 16);                       \
            a0 = _mm512_fmadd_ps(q0, LOAD(x0, j), a0);                                                  \
            b0 = _mm512_fmadd_ps(q0, LOAD(x1, j), b0);                                                  \
            a1 = _mm512_fmadd_ps(q1, LOAD(x0, j + 16), a1);                                             \
            b1 = _mm512_fmadd_ps(q1, LOAD(x1, j + 16), b1);                                             \
        }                                                                                               \
        for (; j + 16 <= dim; j += 16) {                                                                \
            __m512 q0 = _mm512_loadu_ps(q + j);                                                         \
            a0 = _mm512_fmadd_ps(q0, LOAD(x0, j), a0);                                                  \
            b0 = _mm512_fmadd_ps(q0, LOAD(x1, j), b0);                                                  \
        }                                                                                               \
        float t0 = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)), t1 = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1)); \
        for (; j < dim; j++) {                                                                          \
            t0 += q[j] * (float)x0[j];                                                                  \
            t1 += q[j] * (float)x1[j];                                                                  \
        }                                                                                               \
        *s0 = t0, *s1 = t1;                                                                             \
    }
#define INT8_ROW16(x, at) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((x) + (at)))))
DOT2_AVX512(int8_dot2_avx512, int8_t, INT8_ROW16)
VECTRO_AVX512 SCORE_ROWS2(score_rows_avx512, int8_dot2_avx512, int8_dot_avx512)
VECTRO_AVX512 SCORE_ROWS(f32_rows_avx512, f32_dot_avx512, 0)

/* the code bits of 8 values: 4 bytes of 4-bit codes, 2 of 2-bit ones (fixed sizes: memcpy inlines) */
static inline __attribute__((always_inline)) uint32_t eight_values(const uint8_t *at, int bits) {
    uint32_t w = 0;
    if (bits == 4)
        memcpy(&w, at, 4);
    else
        memcpy(&w, at, 2);
    return w;
}

/* 8 values a step: the step's code bits broadcast to 8 lanes, shifted by each lane's place, masked;
 * 16 levels are two 8-float permutes and a blend on the index's bit 3, 4 levels one permute */
VECTRO_AVX2 static inline float packed_dot_avx2(const float *q, const uint8_t *row, Py_ssize_t dim,
                                                const float *levels, int bits) {
    const __m256 low = _mm256_loadu_ps(levels), high = _mm256_loadu_ps(levels + 8);
    const __m256i shifts = bits == 4 ? _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)
                                     : _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    Py_ssize_t j = 0;
    for (; j + 16 <= dim; j += 16) {
        const uint8_t *at = row + j * bits / 8;
        __m256i i0 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)eight_values(at, bits)), shifts), mask);
        __m256i i1 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)eight_values(at + bits, bits)), shifts),
                                      mask);
        __m256 v0 = _mm256_permutevar8x32_ps(low, i0), v1 = _mm256_permutevar8x32_ps(low, i1);
        if (bits == 4) {
            v0 = _mm256_blendv_ps(v0, _mm256_permutevar8x32_ps(high, i0), _mm256_castsi256_ps(_mm256_slli_epi32(i0, 28)));
            v1 = _mm256_blendv_ps(v1, _mm256_permutevar8x32_ps(high, i1), _mm256_castsi256_ps(_mm256_slli_epi32(i1, 28)));
        }
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), v0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), v1, a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; j < dim; j++)
        acc += q[j] * levels[packed_value(row, j, bits)];
    return acc;
}

VECTRO_AVX2 PACKED_ROWS(packed_rows_avx2, packed_dot_avx2)

/* 16 values a step: one permute of the 16 levels */
VECTRO_AVX512 static inline float packed_dot_avx512(const float *q, const uint8_t *row, Py_ssize_t dim,
                                                    const float *levels, int bits) {
    const __m512 table = _mm512_loadu_ps(levels);
    const __m512i shifts = bits == 4 ? _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28)
                                     : _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i mask = _mm512_set1_epi32((1 << bits) - 1);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    Py_ssize_t j = 0;
    for (; j + 32 <= dim; j += 32) {
        __m512i w[2];
        for (int t = 0; t < 2; t++) { /* 16 values: 8 in the low lanes, the next 8 in the high ones */
            const uint8_t *at = row + (j + 16 * t) * bits / 8;
            __m256i lo = _mm256_set1_epi32((int)eight_values(at, bits)), hi = _mm256_set1_epi32((int)eight_values(at + bits, bits));
            w[t] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), shifts), mask);
        }
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_permutexvar_ps(w[0], table), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 16), _mm512_permutexvar_ps(w[1], table), a1);
    }
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; j < dim; j++)
        acc += q[j] * levels[packed_value(row, j, bits)];
    return acc;
}

VECTRO_AVX512 PACKED_ROWS(packed_rows_avx512, packed_dot_avx512)

/* the same, 8 or 16 coordinates at a time with their counts in a register: a compare and a masked add per
 * threshold, the level by a permute of the table */
VECTRO_AVX2 static void count_levels_avx2(const float *z, Py_ssize_t dim, const float *thresholds, int count,
                                          const float *table, int32_t *values, float *level) {
    const __m256 low = _mm256_loadu_ps(table), high = _mm256_loadu_ps(table + 8);
    Py_ssize_t j = 0;
    for (; j + 8 <= dim; j += 8) {
        __m256 zv = _mm256_loadu_ps(z + j);
        __m256i c = _mm256_setzero_si256();
        for (int t = 0; t < count; t++) /* an all-ones lane is -1: subtracting it counts */
            c = _mm256_sub_epi32(c, _mm256_castps_si256(_mm256_cmp_ps(zv, _mm256_set1_ps(thresholds[t]), _CMP_GT_OQ)));
        __m256 v = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, c), _mm256_permutevar8x32_ps(high, c),
                                    _mm256_castsi256_ps(_mm256_slli_epi32(c, 28)));
        _mm256_storeu_si256((__m256i *)(values + j), c);
        _mm256_storeu_ps(level + j, v);
    }
    count_levels_plain(z + j, dim - j, thresholds, count, table, values + j, level + j);
}

VECTRO_AVX512 static void count_levels_avx512(const float *z, Py_ssize_t dim, const float *thresholds, int count,
                                              const float *table, int32_t *values, float *level) {
    const __m512 levels = _mm512_loadu_ps(table);
    const __m512i one = _mm512_set1_epi32(1);
    Py_ssize_t j = 0;
    for (; j + 16 <= dim; j += 16) {
        __m512 zv = _mm512_loadu_ps(z + j);
        __m512i c = _mm512_setzero_si512();
        for (int t = 0; t < count; t++)
            c = _mm512_mask_add_epi32(c, _mm512_cmp_ps_mask(zv, _mm512_set1_ps(thresholds[t]), _CMP_GT_OQ), c, one);
        _mm512_storeu_si512(values + j, c);
        _mm512_storeu_ps(level + j, _mm512_permutexvar_ps(c, levels));
    }
    count_levels_plain(z + j, dim - j, thresholds, count, table, values + j, level + j);
}

/* 2: AVX-512, 1: AVX2 and FMA, 0: neither */
static int x86_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define int8_dot_avx2 int8_dot_plain
#define score_rows_avx2 score_rows_plain
#define int8_dot_avx512 int8_dot_plain
#define score_rows_avx512 score_rows_plain
#define f32_rows_avx2 f32_rows_plain
#define f32_rows_avx512 f32_rows_plain
#define packed_rows_avx2 packed_rows_plain
#define packed_rows_avx512 packed_rows_plain
#define f32_dot_avx2 f32_dot_plain
#define int8_dot2_avx2 int8_dot2_plain
#define int8_dot2_avx512 int8_dot2_plain
#define f32_dot_avx512 f32_dot_plain
#define packed_dot_avx2 packed_dot_plain
#define packed_dot_avx512 packed_dot_plain
#define count_levels_avx2 count_levels_plain
#define count_levels_avx512 count_levels_plain
static int x86_level(void) { return 0; }
#endif

typedef void (*rows_fn)(const float *, Py_ssize_t, const uint8_t *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                        Py_ssize_t, float *);
static int simd_level = 0;                        /* 0 plain C, 1 AVX2 + FMA, 2 AVX-512: set at module load */
static rows_fn score_rows = score_rows_plain; /* set with it (PyInit__native) */
static rows_fn f32_rows = f32_rows_plain;
static void (*packed_rows)(const packed_job *, Py_ssize_t, Py_ssize_t) = packed_rows_plain;
static dot_fn int8_dot = int8_dot_plain;
static void (*count_levels)(const float *, Py_ssize_t, const float *, int, const float *, int32_t *,
                            float *) = count_levels_plain;

/* `rows` over every row, split between `threads` where the scan is big enough to pay for them */
static void scan_rows(rows_fn rows, const float *Q, Py_ssize_t nq, const uint8_t *codes, Py_ssize_t n,
                      Py_ssize_t width, Py_ssize_t dim, float *out, int threads) {
    if (threads < 2 || n * dim * nq < (1 << 20)) {
        rows(Q, nq, codes, 0, n, n, width, dim, out);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        Py_ssize_t first, last;
        thread_rows(n, &first, &last);
        rows(Q, nq, codes, first, last, n, width, dim, out);
    }
}

static void packed_scores_rows(const packed_job *job, int threads) {
    if (threads < 2 || job->n * job->dim * job->nq < (1 << 20)) {
        packed_rows(job, 0, job->n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        Py_ssize_t first, last;
        thread_rows(job->n, &first, &last);
        packed_rows(job, first, last);
    }
}

static void int8_candidates(const float *Q, Py_ssize_t nq, const uint8_t *codes, Py_ssize_t width, Py_ssize_t dim,
                            const int64_t *rows, Py_ssize_t c, float *out) {
    for (Py_ssize_t q = 0; q < nq; q++)
        for (Py_ssize_t j = 0; j < c; j++) {
            const uint8_t *row = codes + rows[q * c + j] * width;
            out[q * c + j] = int8_dot(Q + q * dim, (const int8_t *)row, dim) * row_scale(row, dim);
        }
}

/* each query's k best (score descending, then row ascending) by selection: a few dozen candidates */
static void best_of(const int64_t *rows, const float *scores, Py_ssize_t nq, Py_ssize_t count, Py_ssize_t k,
                    int64_t *top_rows, float *top_scores, Py_ssize_t *order) {
    for (Py_ssize_t q = 0; q < nq; q++) {
        const int64_t *r = rows + q * count;
        const float *s = scores + q * count;
        for (Py_ssize_t j = 0; j < count; j++)
            order[j] = j;
        for (Py_ssize_t place = 0; place < k; place++) {
            Py_ssize_t best = place;
            for (Py_ssize_t j = place + 1; j < count; j++) {
                Py_ssize_t a = order[j], b = order[best];
                if (s[a] > s[b] || (s[a] == s[b] && r[a] < r[b]))
                    best = j;
            }
            Py_ssize_t t = order[place];
            order[place] = order[best];
            order[best] = t;
            top_rows[q * k + place] = r[order[place]];
            top_scores[q * k + place] = s[order[place]];
        }
    }
}

/* ----- the k best of each row of scores: a heap of k, the worst at its root ----------------------
 * Order: score descending, then index ascending (what ranking.top_k's sort gives). Most scores
 * of a long row lose to the root at one compare, so the cost is one pass over the row. */
static inline int worse(float sa, int64_t ia, float sb, int64_t ib) {
    int nan_a = sa != sa, nan_b = sb != sb; /* NaN ranks below -inf (last, as NumPy's sort puts it) */
    if (nan_a | nan_b)
        return nan_a && (!nan_b || ia > ib);
    return sa < sb || (sa == sb && ia > ib);
}

static void sift_down(float *hs, int64_t *hi, Py_ssize_t size, Py_ssize_t at) {
    for (;;) {
        Py_ssize_t child = 2 * at + 1, worst = at;
        if (child < size && worse(hs[child], hi[child], hs[worst], hi[worst]))
            worst = child;
        if (child + 1 < size && worse(hs[child + 1], hi[child + 1], hs[worst], hi[worst]))
            worst = child + 1;
        if (worst == at)
            return;
        float ts = hs[at];
        int64_t ti = hi[at];
        hs[at] = hs[worst], hi[at] = hi[worst], hs[worst] = ts, hi[worst] = ti;
        at = worst;
    }
}

/* a heap of k (root: the worst) into order, best first: the worst goes last, then the next worst */
static void heap_sort(float *hs, int64_t *hi, Py_ssize_t k) {
    for (Py_ssize_t size = k; size > 1; size--) {
        float ts = hs[0];
        int64_t ti = hi[0];
        hs[0] = hs[size - 1], hi[0] = hi[size - 1], hs[size - 1] = ts, hi[size - 1] = ti;
        sift_down(hs, hi, size - 1, 0);
    }
}

static void top_k_rows(const float *scores, Py_ssize_t nq, Py_ssize_t n, Py_ssize_t k, int64_t *ids, float *best) {
    for (Py_ssize_t q = 0; q < nq; q++) {
        const float *row = scores + q * n;
        float *hs = best + q * k;
        int64_t *hi = ids + q * k;
        for (Py_ssize_t i = 0; i < k; i++)
            hs[i] = row[i], hi[i] = i;
        for (Py_ssize_t at = k / 2; at-- > 0;)
            sift_down(hs, hi, k, at);
        for (Py_ssize_t i = k; i < n; i++)
            if (worse(hs[0], hi[0], row[i], i)) {
                hs[0] = row[i], hi[0] = i;
                sift_down(hs, hi, k, 0);
            }
        heap_sort(hs, hi, k);
    }
}

/* ----- rq:B encode (codecs/rotation.py): rotate, scale the direction, nearest Lloyd-Max level, pack ----- */
/* unnormalised Walsh-Hadamard transform of every aligned `block` (>= 8, dim a multiple of it) of x, in place;
 * each butterfly adds and subtracts the same two values as NumPy's version, so both round identically. The
 * first three stages run on 8 values at a time; the later ones on two disjoint halves (restrict: they vectorise) */
static inline __attribute__((always_inline)) void fwht_blocks(float *x, Py_ssize_t dim, Py_ssize_t block) {
    for (Py_ssize_t s = 0; s < dim; s += 8) {
        float *v = x + s;
        float a0 = v[0] + v[1], a1 = v[0] - v[1], a2 = v[2] + v[3], a3 = v[2] - v[3];
        float a4 = v[4] + v[5], a5 = v[4] - v[5], a6 = v[6] + v[7], a7 = v[6] - v[7];
        float b0 = a0 + a2, b1 = a1 + a3, b2 = a0 - a2, b3 = a1 - a3;
        float b4 = a4 + a6, b5 = a5 + a7, b6 = a4 - a6, b7 = a5 - a7;
        v[0] = b0 + b4, v[1] = b1 + b5, v[2] = b2 + b6, v[3] = b3 + b7;
        v[4] = b0 - b4, v[5] = b1 - b5, v[6] = b2 - b6, v[7] = b3 - b7;
    }
    for (Py_ssize_t h = 8; h < block; h *= 2)
        for (Py_ssize_t start = 0; start < dim; start += 2 * h) {
            float *restrict low = x + start, *restrict high = x + start + h;
            for (Py_ssize_t j = 0; j < h; j++) {
                float a = low[j], c = high[j];
                low[j] = a + c, high[j] = a - c;
            }
        }
}

/* B-bit values, coordinate after coordinate, low bit first, into ceil(dim * B / 8) bytes: whole bytes of
 * 1, 2, 4 or 8 values (or 3 bytes of 8 3-bit ones) first, in loops of a fixed shape, then the rest (and
 * every value of other widths) through a 64-bit accumulator */
static inline __attribute__((always_inline)) void pack_values(const int32_t *values, Py_ssize_t dim, int bits,
                                                              uint8_t *row) {
    Py_ssize_t j = 0, at = 0;
    if (bits == 8 || bits == 4 || bits == 2 || bits == 1) {
        int per = 8 / bits;
        Py_ssize_t whole = dim / per;
        if (bits == 8)
            for (Py_ssize_t b = 0; b < whole; b++)
                row[b] = (uint8_t)values[b];
        else if (bits == 4)
            for (Py_ssize_t b = 0; b < whole; b++)
                row[b] = (uint8_t)(values[2 * b] | values[2 * b + 1] << 4);
        else if (bits == 2)
            for (Py_ssize_t b = 0; b < whole; b++)
                row[b] = (uint8_t)(values[4 * b] | values[4 * b + 1] << 2 | values[4 * b + 2] << 4 | values[4 * b + 3] << 6);
        else
            for (Py_ssize_t b = 0; b < whole; b++) {
                int byte = 0;
                for (int t = 0; t < 8; t++)
                    byte |= values[8 * b + t] << t;
                row[b] = (uint8_t)byte;
            }
        j = whole * per, at = whole;
    } else if (bits == 3) { /* 8 values fill 3 bytes */
        for (; j + 8 <= dim; j += 8, at += 3) {
            uint32_t word = 0;
            for (int t = 0; t < 8; t++)
                word |= (uint32_t)values[j + t] << (3 * t);
            row[at] = (uint8_t)word, row[at + 1] = (uint8_t)(word >> 8), row[at + 2] = (uint8_t)(word >> 16);
        }
    }
    uint64_t acc = 0;
    int held = 0;
    for (; j < dim; j++) {
        acc |= (uint64_t)values[j] << held;
        for (held += bits; held >= 8; held -= 8, acc >>= 8)
            row[at++] = (uint8_t)acc;
    }
    if (held)
        row[at] = (uint8_t)acc;
}

/* sum a_j b_j in float64, in 8 running sums (so it vectorises; the sum is rounded to float32 after) */
static inline double dot64(const float *a, const float *b, Py_ssize_t dim) {
    double acc[8] = {0};
    Py_ssize_t j = 0;
    for (; j + 8 <= dim; j += 8)
        for (int t = 0; t < 8; t++)
            acc[t] += (double)a[j + t] * (double)b[j + t];
    for (; j < dim; j++)
        acc[0] += (double)a[j] * (double)b[j];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

typedef struct {
    const float *signs, *thresholds, *levels; /* signs (2, dim); levels: count + 1 of them */
    const int32_t *perm;
    Py_ssize_t dim, block, width; /* block 0: the rows arrive rotated; width: bytes per output row */
    int count, bits;              /* thresholds (2^bits - 1), bits per value */
    float table[16];              /* the levels padded to 16 (up to 16 levels) */
    /* above 15 thresholds (rq:8's 255): a grid of cells over them. A value in cell c has at least grid[c]
     * thresholds below it and at most grid[c] + steps, so `steps` compares finish the count, exactly;
     * `padded` is the thresholds followed by `steps` of +inf */
    int32_t *grid;
    float *padded, grid_start, grid_scale;
    int cells, steps;
} rq_job;

/* the grid of cells for job->thresholds (sorted): 8 cells per threshold over [first, last]. Each cell's
 * bounds are widened by a cell on each side, so a value the float arithmetic puts one cell off is still
 * counted exactly. 0 on success, -1 out of memory */
static int rq_grid(rq_job *job) {
    const float *t = job->thresholds;
    int count = job->count, cells = 8 * count;
    double start = t[0], span = (double)t[count - 1] - start, width = span > 0 ? span / cells : 1.0;
    job->grid = malloc((size_t)cells * sizeof *job->grid);
    if (!job->grid)
        return -1;
    int below = 0, upto = 0, steps = 0;
    for (int c = 0; c < cells; c++) {
        double low = start + (c - 1) * width, high = start + (c + 2) * width;
        while (below < count && t[below] < low)
            below++;
        while (upto < count && t[upto] < high)
            upto++;
        job->grid[c] = below;
        steps = upto - below > steps ? upto - below : steps;
    }
    job->padded = malloc((size_t)(count + steps) * sizeof *job->padded);
    if (!job->padded) {
        free(job->grid);
        return -1;
    }
    memcpy(job->padded, t, count * sizeof *t);
    for (int i = 0; i < steps; i++)
        job->padded[count + i] = INFINITY;
    job->cells = cells, job->steps = steps;
    job->grid_start = (float)start, job->grid_scale = (float)(1.0 / width);
    return 0;
}

/* one row; scratch: 3 dim floats and dim int32. Loops run over the coordinates innermost, so each clone
 * (AVX-512, AVX2) vectorises them */
VECTRO_CLONES static void rq_encode_row(const rq_job *job, const float *x, uint8_t *out, uint8_t *bad, float *first,
                                        float *y, float *z, int32_t *values) {
    Py_ssize_t dim = job->dim;
    abs_peak(x, dim, bad);
    if (job->block) {
        for (Py_ssize_t j = 0; j < dim; j++)
            first[j] = x[j] * job->signs[j];
        fwht_blocks(first, dim, job->block);
        const int32_t *restrict perm = job->perm;
        const float *restrict from = first, *restrict signs = job->signs + dim;
        float *restrict to = y;
        for (Py_ssize_t j = 0; j < dim; j++)
            to[j] = from[perm[j]] * signs[j];
        fwht_blocks(y, dim, job->block);
    } else {
        memcpy(y, x, dim * sizeof *y);
    }
    double norm = sqrt(dot64(y, y, dim));
    float scale = norm > 0 ? (float)(sqrt((double)dim) / norm) : 1.0f;
    for (Py_ssize_t j = 0; j < dim; j++)
        z[j] = y[j] * scale;
    /* values[j]: how many thresholds (2^bits - 1 of them) lie strictly below z_j (NaN: none): up to 15, counted
     * threshold by threshold; above, a binary search whose steps halve. Both for every coordinate at once */
    float *level = first; /* free once y is made: each coordinate's level, levels[values[j]] */
    if (job->count <= 15) {
        count_levels(z, dim, job->thresholds, job->count, job->table, values, level);
    } else { /* the cell's count, then a few compares (NaN: cell 0, no compare true, 0) */
        for (Py_ssize_t j = 0; j < dim; j++) {
            float c = (z[j] - job->grid_start) * job->grid_scale;
            values[j] = job->grid[c >= 0 ? (c < job->cells - 1 ? (int)c : job->cells - 1) : 0];
        }
        for (int step = 0; step < job->steps; step++)
            for (Py_ssize_t j = 0; j < dim; j++)
                values[j] += job->padded[values[j]] < z[j];
        for (Py_ssize_t j = 0; j < dim; j++)
            level[j] = job->levels[values[j]];
    }
    double num = dot64(y, level, dim), den = dot64(level, level, dim);
    pack_values(values, dim, job->bits, out);
    float alpha = den > 0 ? (float)(num / den) : 0.0f;
    memcpy(out + job->width - 4, &alpha, 4);
}

static int rq_encode_rows(const rq_job *job, const float *X, Py_ssize_t n, uint8_t *out, uint8_t *bad, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && n * job->dim >= (1 << 16))
    {
        float *scratch = malloc(3 * (job->dim ? job->dim : 1) * sizeof *scratch);
        int32_t *values = malloc((job->dim ? job->dim : 1) * sizeof *values);
        if (!scratch || !values) {
#pragma omp atomic write
            failed = 1;
        } else {
            Py_ssize_t first, last;
            thread_rows(n, &first, &last);
            for (Py_ssize_t i = first; i < last; i++)
                rq_encode_row(job, X + i * job->dim, out + i * job->width, bad + i, scratch, scratch + job->dim,
                              scratch + 2 * job->dim, values);
        }
        free(scratch), free(values);
    }
    return failed ? -1 : 0;
}

/* ----- HNSW over the codes themselves (Index(ann="hnsw")) ------------------------------------
 * The graph holds links only: every score is computed on the index's own codes with the kernels above, so RAM
 * holds one copy of the vectors (FAISS's HNSW keeps a second one in its storage). Layout, in arrays that
 * index/ann.py owns: level-0 links (nodes, 2M) int32; a node of level L >= 1 has L blocks of M links in
 * `upper`, its level-l block at upper_at[node] + l - 1; -1 ends a list. Scores are higher-is-better, as
 * metrics.ranking.metric_scores makes them. Construction follows HNSW (Malkov & Yashunin) as FAISS does it:
 * 2M links at level 0, M above, the neighbour-selection heuristic, nodes inserted in parallel with a lock
 * per node. */
static float (*f32_dot)(const float *, const float *, Py_ssize_t) = f32_dot_plain;
static void int8_dot2_plain(const float *q, const int8_t *x0, const int8_t *x1, Py_ssize_t dim, float *s0, float *s1) {
    *s0 = int8_dot_plain(q, x0, dim), *s1 = int8_dot_plain(q, x1, dim);
}
static void (*int8_dot2)(const float *, const int8_t *, const int8_t *, Py_ssize_t, float *, float *) = int8_dot2_plain;
static float (*packed_dot)(const float *, const uint8_t *, Py_ssize_t, const float *, int) = packed_dot_plain;

typedef struct {
    int kind;   /* 0: int8 codes then their scale; 1: float32 vectors; 2: packed 2/4-bit codes, scale at scale_at */
    int bits;   /* kind 2 */
    int metric; /* 0 ip (q.x), 1 cosine (q.x / |x|), 2 l2 (2 q.x - |x|^2) */
    const uint8_t *codes;
    const float *sq_norms, *levels;
    Py_ssize_t width, dim, scale_at;
} coded_rows;

/* q.x of row r as the metric's score */
static inline float metric_score(const coded_rows *v, float ip, int64_t r) {
    float sq = v->sq_norms[r];
    if (v->metric == 1)
        return ip / sqrtf(sq > 1e-30f ? sq : 1e-30f);
    return v->metric == 2 ? 2.0f * ip - sq : ip;
}

static inline float coded_score(const coded_rows *v, const float *q, int64_t r) {
    const uint8_t *row = v->codes + r * v->width;
    float ip;
    if (v->kind == 0)
        ip = int8_dot(q, (const int8_t *)row, v->dim) * row_scale(row, v->dim);
    else if (v->kind == 1)
        ip = f32_dot(q, (const float *)row, v->dim);
    else
        ip = packed_dot(q, row, v->dim, v->levels, v->bits) * row_scale(row, v->scale_at);
    return metric_score(v, ip, r);
}

/* the scores of `count` nodes, their rows fetched ahead first (a walk's neighbours lie anywhere in the codes);
 * int8 rows two at a time (one query load serves both) */
static void coded_scores(const coded_rows *v, const float *q, const int32_t *nodes, int count, float *out) {
    for (int i = 0; i < count; i++) {
        const char *row = (const char *)(v->codes + (int64_t)nodes[i] * v->width);
        for (Py_ssize_t at = 0; at < v->width; at += 64)
            __builtin_prefetch(row + at);
    }
    int i = 0;
    if (v->kind == 0)
        for (; i + 2 <= count; i += 2) {
            const uint8_t *r0 = v->codes + (int64_t)nodes[i] * v->width, *r1 = v->codes + (int64_t)nodes[i + 1] * v->width;
            float s0, s1;
            int8_dot2(q, (const int8_t *)r0, (const int8_t *)r1, v->dim, &s0, &s1);
            out[i] = metric_score(v, s0 * row_scale(r0, v->dim), nodes[i]);
            out[i + 1] = metric_score(v, s1 * row_scale(r1, v->dim), nodes[i + 1]);
        }
    for (; i < count; i++)
        out[i] = coded_score(v, q, nodes[i]);
}

/* row r as float32 (construction scores stored rows against each other) */
static void coded_decode(const coded_rows *v, int64_t r, float *out) {
    const uint8_t *row = v->codes + r * v->width;
    if (v->kind == 1) {
        memcpy(out, row, v->dim * sizeof *out);
    } else if (v->kind == 0) {
        float s = row_scale(row, v->dim);
        for (Py_ssize_t j = 0; j < v->dim; j++)
            out[j] = (float)((const int8_t *)row)[j] * s;
    } else {
        float s = row_scale(row, v->scale_at);
        for (Py_ssize_t j = 0; j < v->dim; j++)
            out[j] = v->levels[packed_value(row, j, v->bits)] * s;
    }
}

typedef struct {
    int32_t *level0, *upper;
    const int32_t *upper_at;
    int m;
    Py_ssize_t nodes;  /* the walk visits nodes 0..nodes-1 (a search's snapshot may hold fewer than the graph) */
    Py_ssize_t blocks; /* blocks of M links in `upper` */
    uint8_t *locks;   /* construction: one spin lock per node; NULL while searching (no writer runs) */
} hnsw_graph;

static inline int32_t *hnsw_links(const hnsw_graph *g, int64_t node, int level, int *cap) {
    if (level == 0) {
        *cap = 2 * g->m;
        return g->level0 + node * 2 * g->m;
    }
    int64_t block = (int64_t)g->upper_at[node] + level - 1;
    if (g->upper_at[node] < 0 || block >= g->blocks) { /* no list there (a damaged graph): never read or write */
        *cap = 0;
        return g->upper;
    }
    *cap = g->m;
    return g->upper + block * g->m;
}

static inline void node_lock(const hnsw_graph *g, int64_t node) {
    if (g->locks)
        while (__atomic_test_and_set(g->locks + node, __ATOMIC_ACQUIRE))
            ;
}

static inline void node_unlock(const hnsw_graph *g, int64_t node) {
    if (g->locks)
        __atomic_clear(g->locks + node, __ATOMIC_RELEASE);
}

/* a node's links at a level, copied (under its lock while others may write them) */
static int hnsw_read(const hnsw_graph *g, int64_t node, int level, int32_t *out) {
    int cap, count = 0;
    const int32_t *links = hnsw_links(g, node, level, &cap);
    node_lock(g, node);
    while (count < cap && links[count] >= 0) {
        out[count] = links[count];
        count++;
    }
    node_unlock(g, node);
    return count;
}

typedef struct {
    float score;
    int32_t node;
} scored;

/* a heap of scored nodes, the highest key at the root; the result set keys on -score (its worst at the root) */
typedef struct {
    scored *at;
    int size, cap;
} heap;

static int heap_push(heap *h, float key, int32_t node) {
    if (h->size == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        scored *at = realloc(h->at, cap * sizeof *at);
        if (!at)
            return -1;
        h->at = at, h->cap = cap;
    }
    int i = h->size++;
    while (i > 0 && h->at[(i - 1) / 2].score < key) {
        h->at[i] = h->at[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->at[i].score = key, h->at[i].node = node;
    return 0;
}

static scored heap_pop(heap *h) {
    scored top = h->at[0], last = h->at[--h->size];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= h->size)
            break;
        if (child + 1 < h->size && h->at[child + 1].score > h->at[child].score)
            child++;
        if (h->at[child].score <= last.score)
            break;
        h->at[i] = h->at[child];
        i = child;
    }
    if (h->size)
        h->at[i] = last;
    return top;
}

/* what one thread needs for a walk: the heaps, the visited marks (generation-stamped, so not cleared per walk),
 * a links buffer and two float rows */
typedef struct {
    heap candidates, results;
    uint16_t *seen;
    uint16_t mark;
    Py_ssize_t seen_cap;
    int32_t *links, *chosen;
    scored *sorted;
    float *row, *other, *scores;
    int m, sorted_cap;
    Py_ssize_t dim;
} walker;

static void walker_free(walker *w) {
    free(w->candidates.at), free(w->results.at), free(w->seen), free(w->links), free(w->chosen), free(w->sorted),
        free(w->row), free(w->scores);
    memset(w, 0, sizeof *w);
}

static int walker_init(walker *w, Py_ssize_t nodes, int m, int ef, Py_ssize_t dim) {
    memset(w, 0, sizeof *w);
    w->seen = calloc(nodes ? nodes : 1, sizeof *w->seen);
    w->seen_cap = nodes, w->m = m, w->dim = dim;
    w->sorted_cap = (ef > 2 * m ? ef : 2 * m) + 1;
    w->links = malloc((2 * m + 1) * sizeof *w->links);
    w->chosen = malloc((2 * m + 1) * sizeof *w->chosen);
    w->sorted = malloc(w->sorted_cap * sizeof *w->sorted);
    w->row = malloc(2 * (dim ? dim : 1) * sizeof *w->row);
    w->other = w->row + dim;
    w->scores = malloc((2 * m + 1) * sizeof *w->scores);
    if (w->seen && w->links && w->chosen && w->sorted && w->row && w->scores)
        return 0;
    walker_free(w);
    return -1;
}

/* searches reuse one walker per thread (its visited marks are as long as the graph: allocating them per call
 * would cost a single-query search more than its walk), freed when the thread ends (a thread-specific key's
 * destructor); without POSIX threads, each search makes its own */
#ifndef _WIN32
#include <pthread.h>
static pthread_key_t walker_key;
static pthread_once_t walker_key_once = PTHREAD_ONCE_INIT;

static void walker_destroy(void *w) {
    walker_free(w);
    free(w);
}

static void walker_key_make(void) { pthread_key_create(&walker_key, walker_destroy); }
#endif

static walker *search_walker(Py_ssize_t nodes, int m, int ef, Py_ssize_t dim) {
#ifndef _WIN32
    pthread_once(&walker_key_once, walker_key_make);
    walker *w = pthread_getspecific(walker_key);
    if (!w) {
        if (!(w = calloc(1, sizeof *w)) || pthread_setspecific(walker_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (w->seen && (w->seen_cap < nodes || w->m != m || w->sorted_cap <= ef || w->dim != dim))
        walker_free(w);
    if (!w->seen && walker_init(w, nodes, m, ef, dim) < 0)
        return NULL;
    return w;
#else
    walker *w = malloc(sizeof *w);
    if (w && walker_init(w, nodes, m, ef, dim) < 0) {
        free(w);
        return NULL;
    }
    return w;
#endif
}

static void search_walker_done(walker *w) {
#ifdef _WIN32
    if (w) {
        walker_free(w);
        free(w);
    }
#else
    (void)w; /* kept for the thread's next search */
#endif
}

static void walker_start(walker *w) {
    if (++w->mark == 0) { /* the stamps wrapped: clear them once every 65,535 walks */
        memset(w->seen, 0, w->seen_cap * sizeof *w->seen);
        w->mark = 1;
    }
    w->candidates.size = w->results.size = 0;
}

/* from `node` (scored `*score`), move to a better neighbour at `level` while there is one */
static int32_t hnsw_greedy(const hnsw_graph *g, const coded_rows *v, const float *q, int32_t node, float *score, int level,
                           walker *w) {
    for (int moved = 1; moved;) {
        moved = 0;
        int count = hnsw_read(g, node, level, w->links);
        for (int i = 0; i < count; i++) {
            int32_t next = w->links[i];
            if (next >= g->nodes)
                continue;
            float s = coded_score(v, q, next);
            if (s > *score)
                *score = s, node = next, moved = 1;
        }
    }
    return node;
}

/* the ef best nodes reachable from `entry` at `level` into w->results (keyed -score): best-first search. Nodes
 * outside `allowed` (a byte per node, or NULL) are walked through but never kept; `self` is never visited. */
static int hnsw_layer(const hnsw_graph *g, const coded_rows *v, const float *q, int32_t entry, float entry_score, int ef,
                      int level, const uint8_t *allowed, int32_t self, walker *w) {
    walker_start(w);
    if (self >= 0)
        w->seen[self] = w->mark;
    w->seen[entry] = w->mark;
    if (heap_push(&w->candidates, entry_score, entry) < 0)
        return -1;
    if ((!allowed || allowed[entry]) && heap_push(&w->results, -entry_score, entry) < 0)
        return -1;
    while (w->candidates.size) {
        scored best = heap_pop(&w->candidates);
        if (w->results.size >= ef && best.score < -w->results.at[0].score)
            break; /* no candidate left can improve the results */
        int count = hnsw_read(g, best.node, level, w->links), fresh = 0;
        for (int i = 0; i < count; i++) {
            int32_t next = w->links[i];
            if (next < g->nodes && w->seen[next] != w->mark) {
                w->seen[next] = w->mark;
                w->links[fresh++] = next;
            }
        }
        coded_scores(v, q, w->links, fresh, w->scores);
        for (int i = 0; i < fresh; i++) {
            int32_t next = w->links[i];
            float s = w->scores[i];
            if (w->results.size < ef || s > -w->results.at[0].score) {
                if (heap_push(&w->candidates, s, next) < 0)
                    return -1;
                if (!allowed || allowed[next]) {
                    if (heap_push(&w->results, -s, next) < 0)
                        return -1;
                    if (w->results.size > ef)
                        heap_pop(&w->results);
                }
            }
        }
    }
    return 0;
}

/* empty w->results into w->sorted, best first; returns how many */
static int hnsw_sorted(walker *w) {
    int count = w->results.size;
    for (int i = count - 1; i >= 0; i--) {
        scored s = heap_pop(&w->results);
        w->sorted[i].score = -s.score, w->sorted[i].node = s.node;
    }
    return count;
}

/* a score from a query as the metric's own similarity, comparable between queries: the walk's scores leave out
 * what depends on the query alone (cosine divides by |q|, l2 subtracts |q|^2), the heuristic compares scores
 * from different queries */
static inline float as_similarity(const coded_rows *v, float score, float query_sq) {
    if (v->metric == 1)
        return score / sqrtf(query_sq > 1e-30f ? query_sq : 1e-30f);
    return v->metric == 2 ? score - query_sq : score;
}

/* the neighbour heuristic: take candidates best first (scored from the base, whose |x|^2 is base_sq), and keep
 * one unless a node already kept is more similar to it than the base is (it would be reached through that
 * node); at most `keep` */
static int hnsw_select(const coded_rows *v, const scored *cands, int count, int keep, float base_sq, int32_t *out,
                       float *row) {
    int kept = 0;
    for (int i = 0; i < count && kept < keep; i++) {
        int32_t c = cands[i].node;
        float to_base = as_similarity(v, cands[i].score, base_sq), c_sq = v->sq_norms[c];
        coded_decode(v, c, row);
        int good = 1;
        for (int j = 0; j < kept && good; j++)
            good = as_similarity(v, coded_score(v, row, out[j]), c_sq) <= to_base;
        if (good)
            out[kept++] = c;
    }
    return kept;
}

/* a link from -> to at `level`; a full list is cut back by the heuristic, scored from `from` */
static void hnsw_link(const hnsw_graph *g, const coded_rows *v, int32_t from, int32_t to, int level, walker *w) {
    int cap, count = 0;
    int32_t *links = hnsw_links(g, from, level, &cap);
    if (!cap)
        return;
    node_lock(g, from);
    int present = 0; /* two inserts running at once can both add the same link */
    while (count < cap && links[count] >= 0)
        present |= links[count++] == to;
    if (present || count < cap) {
        if (!present)
            links[count] = to;
    } else {
        scored *cands = w->sorted;
        coded_decode(v, from, w->other);
        for (int i = 0; i <= count; i++) {
            int32_t node = i < count ? links[i] : to;
            float s = coded_score(v, w->other, node);
            int j = i; /* insertion sort, best first: at most 2M + 1 of them */
            while (j > 0 && cands[j - 1].score < s) {
                cands[j] = cands[j - 1];
                j--;
            }
            cands[j].score = s, cands[j].node = node;
        }
        int kept = hnsw_select(v, cands, count + 1, cap, v->sq_norms[from], w->links, w->row);
        for (int i = 0; i < cap; i++)
            links[i] = i < kept ? w->links[i] : -1;
    }
    node_unlock(g, from);
}

typedef struct {
    int32_t entry;
    int top; /* the entry's level, the graph's highest */
    char lock;
} hnsw_top;

/* insert `node` (its vector q, its level) into a graph that holds at least one node */
static int hnsw_insert(const hnsw_graph *g, const coded_rows *v, hnsw_top *top, const float *q, int32_t node, int level,
                       int ef_construction, walker *w) {
    while (__atomic_test_and_set(&top->lock, __ATOMIC_ACQUIRE))
        ;
    int32_t entry = top->entry;
    int top_level = top->top;
    __atomic_clear(&top->lock, __ATOMIC_RELEASE);
    float score = coded_score(v, q, entry), query_sq = 0.0f;
    for (Py_ssize_t j = 0; j < v->dim; j++)
        query_sq += q[j] * q[j];
    for (int l = top_level; l > level; l--)
        entry = hnsw_greedy(g, v, q, entry, &score, l, w);
    int32_t *chosen = w->chosen;
    for (int l = level < top_level ? level : top_level; l >= 0; l--) {
        if (hnsw_layer(g, v, q, entry, score, ef_construction, l, NULL, node, w) < 0)
            return -1;
        int count = hnsw_sorted(w);
        if (!count)
            continue;
        entry = w->sorted[0].node, score = w->sorted[0].score;
        int cap;
        int32_t *links = hnsw_links(g, node, l, &cap);
        int kept = hnsw_select(v, w->sorted, count, cap, query_sq, chosen, w->row);
        node_lock(g, node); /* another insert may have linked to this node already: its links stay, room permitting */
        int total = kept;
        for (int i = 0; i < cap && links[i] >= 0 && total < cap; i++) {
            int known = 0;
            for (int j = 0; j < kept && !known; j++)
                known = chosen[j] == links[i];
            if (!known)
                chosen[total++] = links[i];
        }
        for (int i = 0; i < cap; i++)
            links[i] = i < total ? chosen[i] : -1;
        node_unlock(g, node);
        for (int i = 0; i < kept; i++)
            hnsw_link(g, v, chosen[i], node, l, w);
    }
    if (level > top_level) {
        while (__atomic_test_and_set(&top->lock, __ATOMIC_ACQUIRE))
            ;
        if (level > top->top)
            top->top = level, top->entry = node;
        __atomic_clear(&top->lock, __ATOMIC_RELEASE);
    }
    return 0;
}

/* nodes first..first+n-1 (vectors X, levels `levels`): the first one alone if the graph is empty, the rest
 * spread over `threads` */
static int hnsw_add(const hnsw_graph *g, const coded_rows *v, hnsw_top *top, const float *X, Py_ssize_t n,
                    Py_ssize_t first, const int8_t *levels, int ef_construction, int threads) {
    Py_ssize_t start = 0;
    if (top->entry < 0 && n) {
        top->entry = (int32_t)first, top->top = levels[0];
        start = 1;
    }
    int failed = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && n - start > 64)
    {
        walker w;
        int ready = walker_init(&w, g->nodes, g->m, ef_construction, v->dim) == 0;
#pragma omp for schedule(dynamic, 16) /* every thread of the team reaches it, with a walker or not */
        for (Py_ssize_t i = start; i < n; i++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (!stop && (!ready || hnsw_insert(g, v, top, X + i * v->dim, (int32_t)(first + i), levels[i],
                                                ef_construction, &w) < 0)) {
#pragma omp atomic write
                failed = 1;
            }
        }
        walker_free(&w);
    }
    return failed ? -1 : 0;
}

/* each query's `depth` best allowed nodes (rows -1, scores -inf where fewer were found) */
static int hnsw_search(const hnsw_graph *g, const coded_rows *v, const hnsw_top *top, const float *Q, Py_ssize_t nq,
                       int ef, int depth, const uint8_t *allowed, int64_t *rows, float *scores, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && nq > 1)
    {
        walker *w = search_walker(g->nodes, g->m, ef, v->dim);
        int ok = w != NULL;
#pragma omp for schedule(dynamic, 4) /* every thread of the team reaches it, with a walker or not */
        for (Py_ssize_t i = 0; i < nq; i++) {
            const float *q = Q + i * v->dim;
            int found = 0;
            if (ok) {
                float score = coded_score(v, q, top->entry);
                int32_t entry = top->entry;
                for (int l = top->top; l > 0; l--)
                    entry = hnsw_greedy(g, v, q, entry, &score, l, w);
                if (hnsw_layer(g, v, q, entry, score, ef, 0, allowed, -1, w) == 0)
                    found = hnsw_sorted(w);
                else
                    ok = 0;
            }
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
            for (int j = 0; j < depth; j++) {
                rows[i * depth + j] = j < found ? w->sorted[j].node : -1;
                scores[i * depth + j] = j < found ? w->sorted[j].score : -INFINITY;
            }
        }
        search_walker_done(w);
    }
    return failed ? -1 : 0;
}

/* ----- an exact scan's top-k: score, metric and selection in one pass over coded rows ----------- */
/* Each row takes the product the score matrix's kernels compute (score_rows, f32_rows, packed_rows;
 * int8 rows of one query in pairs from an even row) and metrics.ranking.metric_scores' conversion, so
 * the k kept are those top_k_rows picks from that matrix wherever both pair the same rows (the matrix
 * path pairs from each thread's first row, and a filtered scan pairs the rows it gathered); no
 * matrix is written. */

/* a non-finite score (an overflowed product, NaN) is no hit, as the block-by-block scan has it */
static inline void heap_offer(float *hs, int64_t *hi, Py_ssize_t k, float score, int64_t row) {
    if (isfinite(score) && worse(hs[0], hi[0], score, row)) {
        hs[0] = score, hi[0] = row;
        sift_down(hs, hi, k, 0);
    }
}

/* rows [first, last) of v (allowed: NULL, or one byte per row) into each query's heap of k (root: the
 * worst); one query's int8 rows in pairs, as score_rows scores them, else row by row, every query per row */
static void scan_heaps(const coded_rows *v, const float *Q, Py_ssize_t nq, Py_ssize_t first, Py_ssize_t last,
                       const uint8_t *allowed, Py_ssize_t k, float *hs, int64_t *hi) {
    Py_ssize_t i = first;
    if (v->kind == 0 && nq == 1)
        for (; i + 2 <= last; i += 2) {
            int take0 = !allowed || allowed[i], take1 = !allowed || allowed[i + 1];
            if (!(take0 | take1))
                continue;
            const uint8_t *r0 = v->codes + i * v->width, *r1 = r0 + v->width;
            float s0, s1; /* a pair with one allowed row still takes the pair's product: the same score */
            int8_dot2(Q, (const int8_t *)r0, (const int8_t *)r1, v->dim, &s0, &s1);
            if (take0)
                heap_offer(hs, hi, k, metric_score(v, s0 * row_scale(r0, v->dim), i), i);
            if (take1)
                heap_offer(hs, hi, k, metric_score(v, s1 * row_scale(r1, v->dim), i + 1), i + 1);
        }
    for (; i < last; i++)
        if (!allowed || allowed[i])
            for (Py_ssize_t q = 0; q < nq; q++)
                heap_offer(hs + q * k, hi + q * k, k, coded_score(v, Q + q * v->dim, i), i);
}

/* each query's k best of rows 0..n-1 (best first, ties to the lower row; -1 and -inf past the allowed
 * rows and for non-finite scores); rows split between threads at even rows, each filling heaps of its
 * own, merged at the end */
static int scan_top_k(const coded_rows *v, const float *Q, Py_ssize_t nq, Py_ssize_t n, const uint8_t *allowed,
                      Py_ssize_t k, int64_t *ids, float *best, int threads) {
    if (threads < 2 || n * v->dim * nq < (1 << 20))
        threads = 1;
    float *hs = malloc((size_t)threads * nq * k * sizeof *hs);
    int64_t *hi = malloc((size_t)threads * nq * k * sizeof *hi);
    if (!hs || !hi) {
        free(hs), free(hi);
        return -1;
    }
    for (Py_ssize_t j = 0; j < threads * nq * k; j++)
        hs[j] = -INFINITY, hi[j] = INT64_MAX; /* below every row: replaced by the first k allowed */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        Py_ssize_t first, last;
        thread_rows(n, &first, &last);
        first &= ~(Py_ssize_t)1, last = last == n ? n : last & ~(Py_ssize_t)1;
#ifdef _OPENMP
        Py_ssize_t t = omp_get_thread_num();
#else
        Py_ssize_t t = 0;
#endif
        scan_heaps(v, Q, nq, first, last, allowed, k, hs + t * nq * k, hi + t * nq * k);
    }
    for (Py_ssize_t q = 0; q < nq; q++) {
        float *s = hs + q * k;
        int64_t *h = hi + q * k;
        for (Py_ssize_t t = 1; t < threads; t++)
            for (Py_ssize_t j = 0; j < k; j++)
                heap_offer(s, h, k, hs[(t * nq + q) * k + j], hi[(t * nq + q) * k + j]);
        heap_sort(s, h, k);
        for (Py_ssize_t j = 0; j < k; j++) {
            ids[q * k + j] = h[j] == INT64_MAX ? -1 : h[j];
            best[q * k + j] = h[j] == INT64_MAX ? -INFINITY : s[j];
        }
    }
    free(hs), free(hi);
    return 0;
}

/* ----- Python bindings: the wrappers in __init__.py check shapes and dtypes ------------------ */
/* n rows of width bytes, each holding at least `least` bytes: sizes that cannot overflow or go negative */
static int rows_ok(Py_ssize_t n, Py_ssize_t dim, Py_ssize_t width, Py_ssize_t least) {
    if (n < 0 || dim < 0 || width < least || (width > 0 && n > PY_SSIZE_T_MAX / width / 4)) {
        PyErr_Format(PyExc_ValueError, "rows of %zd bytes for %zd values (at least %zd bytes expected), n = %zd", width,
                     dim, least, n);
        return 0;
    }
    return 1;
}

static int need(Py_buffer *b, Py_ssize_t bytes, const char *what) {
    if (b->len < bytes) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, %zd expected", what, b->len, bytes);
        return 0;
    }
    return 1;
}

static PyObject *py_simd(PyObject *self, PyObject *unused) {
    static const char *names[] = {"none", "avx2", "avx512"};
    return PyUnicode_FromString(names[simd_level]);
}

static PyObject *py_absmax_encode(PyObject *self, PyObject *args) {
    Py_buffer X, out, bad;
    Py_ssize_t n, dim, width;
    int qmax, bits, threads;
    if (!PyArg_ParseTuple(args, "y*w*w*nnniii", &X, &out, &bad, &n, &dim, &width, &qmax, &bits, &threads))
        return NULL;
    PyObject *result = NULL;
    if (bits != 4 && bits != 8 && bits != 16)
        PyErr_Format(PyExc_ValueError, "abs-max codes of %d bits: 4, 8 or 16 expected", bits);
    else if (rows_ok(n, dim, width, (dim * bits + 7) / 8 + 4) && need(&X, n * dim * 4, "X") &&
             need(&out, n * width, "out") && need(&bad, n, "bad")) {
        Py_BEGIN_ALLOW_THREADS
        absmax_encode_rows(X.buf, n, dim, out.buf, width, bad.buf, qmax, bits, threads);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&X);
    PyBuffer_Release(&out);
    PyBuffer_Release(&bad);
    return result;
}

static PyObject *py_codebook_encode(PyObject *self, PyObject *args) {
    Py_buffer X, out, bad, thresholds;
    Py_ssize_t n, dim, width;
    int bits, threads;
    if (!PyArg_ParseTuple(args, "y*w*w*y*nnnii", &X, &out, &bad, &thresholds, &n, &dim, &width, &bits, &threads))
        return NULL;
    PyObject *result = NULL;
    int count = (int)(thresholds.len / 4);
    if (bits != 2 && bits != 4 && bits != 8) {
        PyErr_Format(PyExc_ValueError, "codes of %d bits: 2, 4 or 8 expected", bits);
    } else if (rows_ok(n, dim, width, (dim * bits + 7) / 8 + 4) && need(&X, n * dim * 4, "X") &&
               need(&out, n * width, "out") && need(&bad, n, "bad")) {
        int failed;
        Py_BEGIN_ALLOW_THREADS
        failed = codebook_encode_rows(X.buf, n, dim, out.buf, width, bad.buf, thresholds.buf, count, bits, threads);
        Py_END_ALLOW_THREADS
        result = failed ? PyErr_NoMemory() : Py_NewRef(Py_None);
    }
    PyBuffer_Release(&X);
    PyBuffer_Release(&out);
    PyBuffer_Release(&bad);
    PyBuffer_Release(&thresholds);
    return result;
}

static PyObject *py_absmax_decode(PyObject *self, PyObject *args) {
    Py_buffer codes, out;
    Py_ssize_t n, dim, width;
    int bits, threads;
    if (!PyArg_ParseTuple(args, "y*w*nnnii", &codes, &out, &n, &dim, &width, &bits, &threads))
        return NULL;
    PyObject *result = NULL;
    if (bits != 4 && bits != 8 && bits != 16)
        PyErr_Format(PyExc_ValueError, "abs-max codes of %d bits: 4, 8 or 16 expected", bits);
    else if (rows_ok(n, dim, width, (dim * bits + 7) / 8 + 4) && need(&codes, n * width, "codes") &&
             need(&out, n * dim * 4, "out")) {
        Py_BEGIN_ALLOW_THREADS
        absmax_decode_rows(codes.buf, n, dim, width, out.buf, bits, threads);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&out);
    return result;
}

/* int8 rows (float_rows 0: dim codes, then the scale) or float32 rows (1: the vectors) */
static PyObject *py_row_scores(PyObject *self, PyObject *args) {
    Py_buffer Q, codes, out;
    Py_ssize_t nq, n, width, dim;
    int threads, float_rows;
    if (!PyArg_ParseTuple(args, "y*y*w*nnnnip", &Q, &codes, &out, &nq, &n, &width, &dim, &threads, &float_rows))
        return NULL;
    PyObject *result = NULL;
    if (rows_ok(n, dim, width, float_rows ? 4 * dim : dim + 4) && rows_ok(nq, dim, 4 * dim, 0) &&
        need(&Q, nq * dim * 4, "Q") && need(&codes, n * width, "codes") && need(&out, nq * n * 4, "out")) {
        Py_BEGIN_ALLOW_THREADS
        scan_rows(float_rows ? f32_rows : score_rows, Q.buf, nq, codes.buf, n, width, dim, out.buf, threads);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&Q);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *py_packed_scores(PyObject *self, PyObject *args) {
    Py_buffer Q, codes, levels, out;
    packed_job job;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nnnnnnii", &Q, &codes, &levels, &out, &job.nq, &job.n, &job.width, &job.dim,
                          &job.scale_at, &job.group, &job.bits, &threads))
        return NULL;
    PyObject *result = NULL;
    if (job.bits != 2 && job.bits != 4) {
        PyErr_Format(PyExc_ValueError, "packed codes of %d bits: 2 or 4 expected", job.bits);
    } else if (job.group < 1 || (job.group < job.dim && job.group * job.bits % 8)) {
        PyErr_Format(PyExc_ValueError, "groups of %zd values of %d bits do not start on a byte", job.group, job.bits);
    } else if (rows_ok(job.n, job.dim, job.width, (job.dim * job.bits + 7) / 8 + 4) && rows_ok(job.nq, job.dim, 4 * job.dim, 0) &&
               need(&Q, job.nq * job.dim * 4, "Q") && need(&codes, job.n * job.width, "codes") &&
               need(&levels, 16 * 4, "levels") && need(&out, job.nq * job.n * 4, "out")) {
        Py_ssize_t groups = (job.dim + job.group - 1) / job.group;
        if (job.scale_at + 4 * groups > job.width || (job.dim * job.bits + 7) / 8 > job.scale_at) {
            PyErr_SetString(PyExc_ValueError, "the scales must follow the packed codes inside each row");
        } else {
            job.Q = Q.buf;
            job.codes = codes.buf;
            job.levels = levels.buf;
            job.out = out.buf;
            Py_BEGIN_ALLOW_THREADS
            packed_scores_rows(&job, threads);
            Py_END_ALLOW_THREADS
            result = Py_NewRef(Py_None);
        }
    }
    PyBuffer_Release(&Q);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&levels);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *py_int8_candidate_scores(PyObject *self, PyObject *args) {
    Py_buffer Q, codes, rows, out;
    Py_ssize_t nq, n, width, dim, c;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nnnnn", &Q, &codes, &rows, &out, &nq, &n, &width, &dim, &c))
        return NULL;
    PyObject *result = NULL;
    if (rows_ok(n, dim, width, dim + 4) && rows_ok(nq, c, 8 * c, 0) && need(&Q, nq * dim * 4, "Q") &&
        need(&codes, n * width, "codes") && need(&rows, nq * c * 8, "rows") && need(&out, nq * c * 4, "out")) {
        const int64_t *r = rows.buf;
        for (Py_ssize_t j = 0; j < nq * c; j++)
            if (r[j] < 0 || r[j] >= n) {
                PyErr_Format(PyExc_IndexError, "candidate row %lld is outside 0..%zd", (long long)r[j], n - 1);
                goto done;
            }
        Py_BEGIN_ALLOW_THREADS
        int8_candidates(Q.buf, nq, codes.buf, width, dim, r, c, out.buf);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
done:
    PyBuffer_Release(&Q);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *py_best_candidates(PyObject *self, PyObject *args) {
    Py_buffer rows, scores, top_rows, top_scores;
    Py_ssize_t nq, count, k;
    if (!PyArg_ParseTuple(args, "y*y*w*w*nnn", &rows, &scores, &top_rows, &top_scores, &nq, &count, &k))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t *order = NULL;
    if (rows_ok(nq, count, 8 * count, 0) && k >= 0 && need(&rows, nq * count * 8, "rows") && need(&scores, nq * count * 4, "scores") &&
        need(&top_rows, nq * k * 8, "top_rows") && need(&top_scores, nq * k * 4, "top_scores") && k <= count) {
        order = PyMem_RawMalloc((count ? count : 1) * sizeof *order);
        if (!order) {
            PyErr_NoMemory();
        } else {
            Py_BEGIN_ALLOW_THREADS
            best_of(rows.buf, scores.buf, nq, count, k, top_rows.buf, top_scores.buf, order);
            Py_END_ALLOW_THREADS
            result = Py_NewRef(Py_None);
        }
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "k is above the number of candidates");
    }
    PyMem_RawFree(order);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&scores);
    PyBuffer_Release(&top_rows);
    PyBuffer_Release(&top_scores);
    return result;
}

static PyObject *py_top_k(PyObject *self, PyObject *args) {
    Py_buffer scores, ids, best;
    Py_ssize_t nq, n, k;
    if (!PyArg_ParseTuple(args, "y*w*w*nnn", &scores, &ids, &best, &nq, &n, &k))
        return NULL;
    PyObject *result = NULL;
    if (k < 1 || k > n) {
        PyErr_Format(PyExc_ValueError, "k = %zd: 1..%zd expected", k, n);
    } else if (rows_ok(nq, n, 4 * n, 0) && need(&scores, nq * n * 4, "scores") && need(&ids, nq * k * 8, "ids") && need(&best, nq * k * 4, "best")) {
        Py_BEGIN_ALLOW_THREADS
        top_k_rows(scores.buf, nq, n, k, ids.buf, best.buf);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&scores);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&best);
    return result;
}

/* the rows a graph scores: (codes, sq_norms, levels, kind, bits, metric, width, dim, scale_at), checked for `nodes` */
#define CODED_ROWS_FORMAT "(y*y*y*iiinnn)"
#define GRAPH_FORMAT "(w*w*y*in)"

static int coded_rows_ok(coded_rows *v, Py_buffer *codes, Py_buffer *sq_norms, Py_buffer *levels, Py_ssize_t nodes) {
    Py_ssize_t least = v->kind == 0 ? v->dim + 4 : v->kind == 1 ? 4 * v->dim : v->scale_at + 4;
    if (v->kind < 0 || v->kind > 2 || v->metric < 0 || v->metric > 2 || (v->kind == 2 && v->bits != 2 && v->bits != 4) ||
        (v->kind == 2 && (v->dim * v->bits + 7) / 8 > v->scale_at)) {
        PyErr_SetString(PyExc_ValueError, "unknown row kind, metric or bit width");
        return 0;
    }
    if (!rows_ok(nodes, v->dim, v->width, least) || !need(codes, nodes * v->width, "codes") ||
        !need(sq_norms, nodes * 4, "sq_norms") || !need(levels, v->kind == 2 ? 64 : 0, "levels"))
        return 0;
    v->codes = codes->buf, v->sq_norms = sq_norms->buf, v->levels = levels->buf;
    return 1;
}

static int graph_ok(hnsw_graph *g, Py_buffer *level0, Py_buffer *upper, Py_buffer *upper_at) {
    if (g->m < 1 || g->m > 4096 || g->nodes < 0 || g->nodes > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "M must be 1..4096, and nodes below 2^31");
        return 0;
    }
    if (!need(level0, g->nodes * 8 * g->m, "level0") || !need(upper_at, g->nodes * 4, "upper_at"))
        return 0;
    g->level0 = level0->buf, g->upper = upper->buf, g->upper_at = upper_at->buf, g->locks = NULL;
    g->blocks = upper->len / (4 * g->m);
    return 1;
}

static PyObject *py_hnsw_add(PyObject *self, PyObject *args) {
    Py_buffer codes, sq_norms, levels, level0, upper, upper_at, X, node_levels;
    coded_rows v;
    hnsw_graph g;
    hnsw_top top = {0, 0, 0};
    Py_ssize_t n, first;
    int ef_construction, threads;
    if (!PyArg_ParseTuple(args, CODED_ROWS_FORMAT GRAPH_FORMAT "iiy*y*nnii", &codes, &sq_norms, &levels, &v.kind,
                          &v.bits, &v.metric, &v.width, &v.dim, &v.scale_at, &level0, &upper, &upper_at, &g.m, &g.nodes,
                          &top.entry, &top.top, &X, &node_levels, &n, &first, &ef_construction, &threads))
        return NULL;
    PyObject *result = NULL;
    if (coded_rows_ok(&v, &codes, &sq_norms, &levels, g.nodes) && graph_ok(&g, &level0, &upper, &upper_at) &&
        need(&X, n * v.dim * 4, "X") && need(&node_levels, n, "levels")) {
        const int8_t *lv = node_levels.buf;
        Py_ssize_t blocks = upper.len / (4 * g.m);
        int bad = first < 0 || n < 0 || first + n != g.nodes || ef_construction < 1 ||
                  (top.entry >= 0 && (top.entry >= first || top.top < 0)) || (top.entry < 0 && first > 0);
        for (Py_ssize_t i = 0; i < n && !bad; i++)
            bad = lv[i] < 0 || (lv[i] > 0 && (g.upper_at[first + i] < 0 || g.upper_at[first + i] + lv[i] > blocks));
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "the new nodes do not fit the graph's arrays");
        } else if (!(g.locks = calloc(g.nodes ? g.nodes : 1, 1))) {
            PyErr_NoMemory();
        } else {
            int failed;
            Py_BEGIN_ALLOW_THREADS
            failed = hnsw_add(&g, &v, &top, X.buf, n, first, lv, ef_construction, threads);
            Py_END_ALLOW_THREADS
            free(g.locks);
            result = failed ? PyErr_NoMemory() : Py_BuildValue("ii", top.entry, top.top);
        }
    }
    PyBuffer_Release(&codes), PyBuffer_Release(&sq_norms), PyBuffer_Release(&levels);
    PyBuffer_Release(&level0), PyBuffer_Release(&upper), PyBuffer_Release(&upper_at);
    PyBuffer_Release(&X), PyBuffer_Release(&node_levels);
    return result;
}

static PyObject *py_scan_top_k(PyObject *self, PyObject *args) {
    Py_buffer codes, sq_norms, levels, Q, allowed, ids, best;
    coded_rows v;
    Py_ssize_t n, nq, k;
    int threads;
    if (!PyArg_ParseTuple(args, CODED_ROWS_FORMAT "ny*nny*w*w*i", &codes, &sq_norms, &levels, &v.kind, &v.bits,
                          &v.metric, &v.width, &v.dim, &v.scale_at, &n, &Q, &nq, &k, &allowed, &ids, &best, &threads))
        return NULL;
    PyObject *result = NULL;
    if (k < 1 || k > n) {
        PyErr_Format(PyExc_ValueError, "k = %zd: 1..%zd expected", k, n);
    } else if (coded_rows_ok(&v, &codes, &sq_norms, &levels, n) && rows_ok(nq, v.dim, 4 * v.dim, 0) &&
               need(&Q, nq * v.dim * 4, "Q") && need(&ids, nq * k * 8, "ids") && need(&best, nq * k * 4, "best") &&
               (allowed.len == 0 || need(&allowed, n, "allowed"))) {
        int failed;
        Py_BEGIN_ALLOW_THREADS
        failed = scan_top_k(&v, Q.buf, nq, n, allowed.len ? allowed.buf : NULL, k, ids.buf, best.buf, threads);
        Py_END_ALLOW_THREADS
        result = failed ? PyErr_NoMemory() : Py_NewRef(Py_None);
    }
    PyBuffer_Release(&codes), PyBuffer_Release(&sq_norms), PyBuffer_Release(&levels);
    PyBuffer_Release(&Q), PyBuffer_Release(&allowed), PyBuffer_Release(&ids), PyBuffer_Release(&best);
    return result;
}

static PyObject *py_hnsw_search(PyObject *self, PyObject *args) {
    Py_buffer codes, sq_norms, levels, level0, upper, upper_at, Q, allowed, rows, scores;
    coded_rows v;
    hnsw_graph g;
    hnsw_top top = {0, 0, 0};
    Py_ssize_t nq;
    int ef, depth, threads;
    if (!PyArg_ParseTuple(args, CODED_ROWS_FORMAT GRAPH_FORMAT "iiy*niiy*w*w*i", &codes, &sq_norms, &levels, &v.kind,
                          &v.bits, &v.metric, &v.width, &v.dim, &v.scale_at, &level0, &upper, &upper_at, &g.m, &g.nodes,
                          &top.entry, &top.top, &Q, &nq, &ef, &depth, &allowed, &rows, &scores, &threads))
        return NULL;
    PyObject *result = NULL;
    if (coded_rows_ok(&v, &codes, &sq_norms, &levels, g.nodes) && graph_ok(&g, &level0, &upper, &upper_at) &&
        rows_ok(nq, v.dim, 4 * v.dim, 0) && need(&Q, nq * v.dim * 4, "Q") && need(&rows, nq * depth * 8, "rows") &&
        need(&scores, nq * depth * 4, "scores") && (allowed.len == 0 || need(&allowed, g.nodes, "allowed"))) {
        if (top.entry < 0 || top.entry >= g.nodes || top.top < 0 || depth < 0 || ef < depth || ef < 1 || ef > (1 << 20)) {
            PyErr_SetString(PyExc_ValueError, "an entry node inside the graph and depth <= ef <= 2^20 are needed");
        } else {
            int failed;
            Py_BEGIN_ALLOW_THREADS
            failed = hnsw_search(&g, &v, &top, Q.buf, nq, ef, depth, allowed.len ? allowed.buf : NULL, rows.buf,
                                 scores.buf, threads);
            Py_END_ALLOW_THREADS
            result = failed ? PyErr_NoMemory() : Py_NewRef(Py_None);
        }
    }
    PyBuffer_Release(&codes), PyBuffer_Release(&sq_norms), PyBuffer_Release(&levels);
    PyBuffer_Release(&level0), PyBuffer_Release(&upper), PyBuffer_Release(&upper_at);
    PyBuffer_Release(&Q), PyBuffer_Release(&allowed), PyBuffer_Release(&rows), PyBuffer_Release(&scores);
    return result;
}

static PyObject *py_rq_encode(PyObject *self, PyObject *args) {
    Py_buffer X, signs, perm, thresholds, levels, out, bad;
    rq_job job;
    Py_ssize_t n;
    int threads;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*nnnnii", &X, &signs, &perm, &thresholds, &levels, &out, &bad, &n, &job.dim,
                          &job.block, &job.width, &job.bits, &threads))
        return NULL;
    PyObject *result = NULL;
    job.count = (int)(thresholds.len / 4);
    int block_ok = job.block == 0 || (job.block >= 8 && (job.block & (job.block - 1)) == 0 && job.dim % job.block == 0);
    if (job.bits < 1 || job.bits > 8 || job.count + 1 != (1 << job.bits) || !block_ok) {
        PyErr_SetString(PyExc_ValueError, "rq codes: 1..8 bits, 2^bits levels, a power-of-two block (8 or more) dividing d");
    } else if (rows_ok(n, job.dim, job.width, (job.dim * job.bits + 7) / 8 + 4) && need(&X, n * job.dim * 4, "X") &&
               need(&signs, 2 * job.dim * 4, "signs") && need(&perm, job.dim * 4, "perm") &&
               need(&levels, (job.count + 1) * 4, "levels") && need(&out, n * job.width, "out") && need(&bad, n, "bad")) {
        const int32_t *p = perm.buf;
        int perm_ok = 1;
        for (Py_ssize_t j = 0; j < job.dim && perm_ok; j++)
            perm_ok = p[j] >= 0 && p[j] < job.dim;
        if (!perm_ok) {
            PyErr_SetString(PyExc_ValueError, "the permutation holds an index outside 0..d-1");
        } else {
            job.signs = signs.buf, job.perm = p, job.thresholds = thresholds.buf, job.levels = levels.buf;
            for (int i = 0; i < 16; i++)
                job.table[i] = i <= job.count ? job.levels[i] : 0.0f;
            job.grid = NULL, job.padded = NULL;
            int failed = job.count > 15 ? rq_grid(&job) : 0;
            if (!failed) {
                Py_BEGIN_ALLOW_THREADS
                failed = rq_encode_rows(&job, X.buf, n, out.buf, bad.buf, threads);
                Py_END_ALLOW_THREADS
            }
            free(job.grid), free(job.padded);
            result = failed ? PyErr_NoMemory() : Py_NewRef(Py_None);
        }
    }
    PyBuffer_Release(&X), PyBuffer_Release(&signs), PyBuffer_Release(&perm), PyBuffer_Release(&thresholds);
    PyBuffer_Release(&levels), PyBuffer_Release(&out), PyBuffer_Release(&bad);
    return result;
}

static PyMethodDef methods[] = {
    {"simd", py_simd, METH_NOARGS, "the instruction set the scoring kernels use: avx512, avx2 or none"},
    {"absmax_encode", py_absmax_encode, METH_VARARGS, "per-vector abs-max codes (4, 8, 16 bits) and scale"},
    {"codebook_encode", py_codebook_encode, METH_VARARGS, "nearest of non-uniform levels (nf4) and the abs-max scale"},
    {"absmax_decode", py_absmax_decode, METH_VARARGS, "per-vector abs-max rows (4, 8, 16 bits) to float32"},
    {"row_scores", py_row_scores, METH_VARARGS, "queries against per-vector int8 rows, or float32 rows"},
    {"packed_scores", py_packed_scores, METH_VARARGS, "queries against packed 2- or 4-bit codes and their levels"},
    {"int8_candidate_scores", py_int8_candidate_scores, METH_VARARGS, "queries against their own candidate rows"},
    {"top_k", py_top_k, METH_VARARGS, "each row's k highest scores, best first (ties: lower index first)"},
    {"scan_top_k", py_scan_top_k, METH_VARARGS, "each query's k best coded rows by an exact scan, best first"},
    {"best_candidates", py_best_candidates, METH_VARARGS, "each query's k best candidates"},
    {"rq_encode", py_rq_encode, METH_VARARGS, "rotation-quantised (rq:B) codes and each row's scale"},
    {"hnsw_add", py_hnsw_add, METH_VARARGS, "insert nodes into an HNSW graph over coded rows"},
    {"hnsw_search", py_hnsw_search, METH_VARARGS, "each query's best nodes by an HNSW walk over coded rows"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "vectro's C kernels (see _native.c)", -1, methods};

/* what the Python wrappers expect (kernels._c_module): a module built from older sources is not used */
#define VECTRO_NATIVE_API 5

PyMODINIT_FUNC PyInit__native(void) {
    int level = x86_level();
    const char *cap = getenv("VECTRO_SIMD"); /* "avx2" or "none": at most that (tests reach every path) */
    if (cap && strcmp(cap, "none") == 0)
        level = 0;
    else if (cap && strcmp(cap, "avx2") == 0 && level > 1)
        level = 1;
    simd_level = level;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    nibble_search = level == 2 && has_avx512bw();
#endif
    if (level == 2) {
        score_rows = score_rows_avx512;
        f32_rows = f32_rows_avx512;
        int8_dot = int8_dot_avx512;
        count_levels = count_levels_avx512;
        int8_dot2 = int8_dot2_avx512;
        f32_dot = f32_dot_avx512;
        packed_dot = packed_dot_avx512;
        packed_rows = packed_rows_avx512;
    } else if (level == 1) {
        score_rows = score_rows_avx2;
        f32_rows = f32_rows_avx2;
        int8_dot = int8_dot_avx2;
        count_levels = count_levels_avx2;
        int8_dot2 = int8_dot2_avx2;
        f32_dot = f32_dot_avx2;
        packed_dot = packed_dot_avx2;
        packed_rows = packed_rows_avx2;
    }
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "API", VECTRO_NATIVE_API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
