/* One 3x3 convolution layer (padding 1) with its bias and PReLU, in Winograd F(6x6, 3x3), over
 * channels-last fp32 maps: the CPU kernel of core/archs/_srvgg_winograd.py, built by _native.py.
 *
 * A group of 6x6 output tiles is carried to the 64 points (input transform), multiplied by the
 * transformed filter at each point (a register-blocked matrix product), and carried back with
 * the bias and the activation (output transform), all while the group is in this core's cache:
 * between the steps nothing goes through memory, which is where PyTorch's batched products lost
 * their time. The transform matrices are those of _winograd.py (nodes 0, 1, -1, 2, -2, 1/2,
 * -1/2 and infinity); tests compare this kernel with PyTorch's convolutions.
 *
 * Portable C plus GCC/Clang vector extensions: 16 floats a vector (one AVX-512 register, two
 * AVX2 ones, four NEON ones), so channel counts are multiples of 16. */
#include <stdint.h>
#include <stdlib.h>

typedef float vec __attribute__((vector_size(64), aligned(4)));
typedef int32_t ivec __attribute__((vector_size(64), aligned(4)));
#define LANES 16
/* Tiles per group: 64 points x 12 tiles x 64 channels = 192 KiB a side, beside a 1 MiB filter
 * (64 -> 64) in a 2 MiB L2 (2-7% faster than 24 tiles, alternating). */
#define GROUP 12
#define BLOCK 6  /* tiles per register block of the product: 6 x 4 vectors = 24 accumulators */

static inline vec load(const float *p) { return *(const vec *)p; }
static inline void store(float *p, vec v) { *(vec *)p = v; }

/* BT applied to 8 values: the rows of _winograd's BT, paired (+/-) so that each pair shares its
 * sums. */
static inline void input_rows(const vec d[8], vec out[8]) {
    out[0] = (d[6] - d[0]) + 5.25f * (d[2] - d[4]);
    out[7] = (d[7] - d[1]) + 5.25f * (d[3] - d[5]);
    vec even = d[2] - 4.25f * d[4] + d[6], odd = d[1] - 4.25f * d[3] + d[5];
    out[1] = even + odd;
    out[2] = even - odd;
    even = 0.25f * d[2] - 1.25f * d[4] + d[6];
    odd = 0.5f * d[1] - 2.5f * d[3] + 2.0f * d[5];
    out[3] = even + odd;
    out[4] = even - odd;
    even = 4.0f * d[2] - 5.0f * d[4] + d[6];
    odd = 2.0f * d[1] - 2.5f * d[3] + 0.5f * d[5];
    out[5] = even + odd;
    out[6] = even - odd;
}

/* AT applied to 8 point values: 6 outputs, from the sums and differences of the node pairs. */
static inline void output_rows(const vec m[8], vec out[6]) {
    vec sum1 = m[1] + m[2], diff1 = m[1] - m[2];
    vec sum2 = m[3] + m[4], diff2 = m[3] - m[4];
    vec sum_half = m[5] + m[6], diff_half = m[5] - m[6];
    out[0] = m[0] + sum1 + sum2 + sum_half;
    out[1] = diff1 + 2.0f * diff2 + 0.5f * diff_half;
    out[2] = sum1 + 4.0f * sum2 + 0.25f * sum_half;
    out[3] = diff1 + 8.0f * diff2 + 0.125f * diff_half;
    out[4] = sum1 + 16.0f * sum2 + 0.0625f * sum_half;
    out[5] = diff1 + 32.0f * diff2 + 0.03125f * diff_half + m[7];
}

/* 16 channels of one 8x8 input tile to its 64 points, point_stride floats apart: BT d B. */
static inline void input_tile(const float *origin, long row_stride, long pixel_stride, float *points,
                              long point_stride) {
    vec by_column[8][8];
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
        vec column[8], rows[8];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) column[k] = load(origin + k * row_stride + l * pixel_stride);
        input_rows(column, rows);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) by_column[i][l] = rows[i];
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        vec points_of_row[8];
        input_rows(by_column[i], points_of_row);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) store(points + (i * 8 + j) * point_stride, points_of_row[j]);
    }
}

/* out[t][o] = sum_k in[t][k] * filter[k][o] for BLOCK tiles and `vectors` x 16 outputs. */
static inline __attribute__((always_inline)) void block_product(const float *in, long inputs, const float *filter,
                                                                long outputs, float *out, int vectors) {
    vec sum[BLOCK][4];
#pragma GCC unroll 6
    for (int t = 0; t < BLOCK; t++)
#pragma GCC unroll 4
        for (int v = 0; v < vectors; v++) sum[t][v] = (vec){0};
    for (long k = 0; k < inputs; k++) {
        vec taps[4];
#pragma GCC unroll 4
        for (int v = 0; v < vectors; v++) taps[v] = load(filter + k * outputs + v * LANES);
#pragma GCC unroll 6
        for (int t = 0; t < BLOCK; t++) {
            float value = in[t * inputs + k];
#pragma GCC unroll 4
            for (int v = 0; v < vectors; v++) sum[t][v] += value * taps[v];
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < BLOCK; t++)
#pragma GCC unroll 4
        for (int v = 0; v < vectors; v++) store(out + t * outputs + v * LANES, sum[t][v]);
}

/* One point's product for `tiles` tiles (a multiple of BLOCK): [tiles][inputs] x [inputs][outputs]. */
static void point_product(const float *in, long inputs, const float *filter, long outputs, float *out, long tiles) {
    for (long t = 0; t < tiles; t += BLOCK)
        for (long o = 0; o < outputs; o += 4 * LANES) {
            long left = (outputs - o) / LANES;
            const float *rows = in + t * inputs;
            float *target = out + t * outputs + o;
            /* Constant vector counts, so that each variant keeps its sums in registers. */
            if (left >= 4) block_product(rows, inputs, filter + o, outputs, target, 4);
            else if (left == 3) block_product(rows, inputs, filter + o, outputs, target, 3);
            else if (left == 2) block_product(rows, inputs, filter + o, outputs, target, 2);
            else block_product(rows, inputs, filter + o, outputs, target, 1);
        }
}

/* 16 channels of one tile's 64 point products back to its 6x6 outputs, plus the bias, through
 * the activation (slopes NULL: none), written where they fall inside the map. */
static inline void output_tile(const float *points, long point_stride, vec bias, const float *slopes, float *origin,
                               long row_stride, long pixel_stride, long rows_inside, long cols_inside) {
    vec by_row[6][8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        vec column[8], rows[6];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) column[i] = load(points + (i * 8 + j) * point_stride);
        output_rows(column, rows);
#pragma GCC unroll 6
        for (int a = 0; a < 6; a++) by_row[a][j] = rows[a];
    }
    vec slope = slopes ? load(slopes) : (vec){0} + 1;
#pragma GCC unroll 6
    for (int a = 0; a < 6; a++) {
        vec outputs[6];
        output_rows(by_row[a], outputs);
#pragma GCC unroll 6
        for (int e = 0; e < 6; e++) {
            vec sum = outputs[e] + bias;
            ivec positive = sum > 0;
            vec activated = (vec)(((ivec)sum & positive) | ((ivec)(sum * slope) & ~positive));
            if (a < rows_inside && e < cols_inside) store(origin + a * row_stride + e * pixel_stride, activated);
        }
    }
}

/* dst = activation(conv3x3(src) + bias) over a height x width map. src and dst are channels-last,
 * [6 * ceil(height / 6) + 2][map_width][channels], the map at row 1, column 1 and zeros around
 * it (map_width = 6 * ceil(width / 6) + 2); dst's zeros are never written. filter is the
 * transformed kernel as [64 points][inputs][outputs]. Returns 0, or 1 for channel counts that
 * are not multiples of 16, 2 when out of memory. */
int winograd_layer(const float *src, float *dst, long map_width, long height, long width, long inputs, long outputs,
                   const float *filter, const float *bias, const float *slopes, int threads) {
    if (inputs % LANES || outputs % LANES || inputs <= 0 || outputs <= 0) return 1;
    long tile_cols = (width + 5) / 6, tiles = (height + 5) / 6 * tile_cols;
    long groups = (tiles + GROUP - 1) / GROUP;
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        /* Tiles past a short last group are multiplied too: zeroed once, they stay finite. */
        float *in = calloc(64 * GROUP * inputs, sizeof(float));
        float *out = malloc(sizeof(float) * 64 * GROUP * outputs);
        if (!in || !out) {
#pragma omp atomic write
            failed = 2;
        }
#pragma omp for schedule(dynamic, 1)
        for (long g = 0; g < groups; g++) {
            if (!in || !out) continue;
            long first = g * GROUP, count = tiles - first < GROUP ? tiles - first : GROUP;
            for (long n = 0; n < count; n++) {
                long row = (first + n) / tile_cols, col = (first + n) % tile_cols;
                const float *origin = src + (6 * row * map_width + 6 * col) * inputs;
                for (long c = 0; c < inputs; c += LANES)
                    input_tile(origin + c, map_width * inputs, inputs, in + n * inputs + c, GROUP * inputs);
            }
            long multiplied = (count + BLOCK - 1) / BLOCK * BLOCK;
            for (int p = 0; p < 64; p++)
                point_product(in + p * GROUP * inputs, inputs, filter + p * inputs * outputs, outputs,
                              out + p * GROUP * outputs, multiplied);
            for (long n = 0; n < count; n++) {
                long row = (first + n) / tile_cols, col = (first + n) % tile_cols;
                long rows_inside = height - 6 * row < 6 ? height - 6 * row : 6;
                long cols_inside = width - 6 * col < 6 ? width - 6 * col : 6;
                float *origin = dst + ((6 * row + 1) * map_width + 6 * col + 1) * outputs;
                for (long c = 0; c < outputs; c += LANES)
                    output_tile(out + n * outputs + c, GROUP * outputs, load(bias + c), slopes ? slopes + c : NULL,
                                origin + c, map_width * outputs, outputs, rows_inside, cols_inside);
            }
        }
        free(in);
        free(out);
    }
    return failed;
}
