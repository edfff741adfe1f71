/* What this machine's cores can do, for bench_roofline.py:
 *
 *   roofline fma THREADS SECONDS   f32 FMA throughput, GFLOP/s: every thread
 *                                  runs 12 independent vector accumulators
 *                                  (the widest vectors compiled for: AVX-512
 *                                  or AVX2), enough to cover the FMA latency
 *                                  on every pipe;
 *   roofline clock THREADS SECONDS the core clock with THREADS cores busy,
 *                                  GHz (their mean): a chain of dependent
 *                                  register adds retires one per cycle on
 *                                  every x86 core;
 *   roofline copy THREADS MIB      copy bandwidth, GB/s (bytes read +
 *                                  written): each thread copies its part of
 *                                  a MIB-sized buffer, best of 5 passes.
 *
 * Built with -O2 -march=native by the script; prints one number.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1(x) _mm512_set1_ps(x)
#define SUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vec;
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1(x) _mm256_set1_ps(x)
static float SUM(__m256 v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  float s = 0;
  for (int i = 0; i < 8; ++i)
    s += lanes[i];
  return s;
}
#endif

enum { ACCUMULATORS = 12, INNER = 1000 };

typedef struct {
  double seconds, flops, elapsed; /* clock: flops counts the adds */
  float sink;
  char *src, *dst;
  size_t bytes;
} Work;

static void *fma_thread(void *arg) {
  Work *w = arg;
  vec acc[ACCUMULATORS];
  for (int i = 0; i < ACCUMULATORS; ++i)
    acc[i] = SET1(1.0f + i * 1e-3f);
  vec x = SET1(0.999999f), y = SET1(1e-7f);
  double start = now(), flops = 0;
  do {
    for (int n = 0; n < INNER; ++n) {
#pragma GCC unroll 12
      for (int i = 0; i < ACCUMULATORS; ++i)
        acc[i] = FMA(acc[i], x, y);
      __asm__ volatile("" : "+x"(x));
    }
    flops += 2.0 * LANES * ACCUMULATORS * INNER;
  } while (now() - start < w->seconds);
  w->elapsed = now() - start;
  w->flops = flops;
  float s = 0;
  for (int i = 0; i < ACCUMULATORS; ++i)
    s += SUM(acc[i]);
  w->sink = s;
  return NULL;
}

static void *clock_thread(void *arg) {
  Work *w = arg;
  double start = now(), elapsed;
  uint64_t x = 0, one = 1;
  do {
    /* Register operands: Golden Cove and later fold chains of adds of an
       immediate at rename, several per cycle (11 "GHz" on Emerald Rapids). */
    for (int n = 0; n < 100000; ++n)
      __asm__ volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                       "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                       : "+r"(x) : "r"(one));
  } while ((elapsed = now() - start) < w->seconds);
  w->flops = (double)x; /* the adds: cycles */
  w->elapsed = elapsed;
  return NULL;
}

static void *copy_thread(void *arg) {
  Work *w = arg;
  double best = 1e30;
  for (int pass = 0; pass < 5; ++pass) {
    double start = now();
    memcpy(w->dst, w->src, w->bytes);
    double t = now() - start;
    if (t < best)
      best = t;
  }
  w->elapsed = best;
  return NULL;
}

static void run(void *(*fn)(void *), Work *work, int threads) {
  pthread_t ids[threads];
  for (int i = 0; i < threads; ++i)
    pthread_create(&ids[i], NULL, fn, &work[i]);
  for (int i = 0; i < threads; ++i)
    pthread_join(ids[i], NULL);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: roofline fma|clock THREADS SECONDS | copy THREADS MIB\n");
    return 2;
  }
  int threads = atoi(argv[2]);
  if (threads < 1 || argc < 4)
    return 2;
  Work *work = calloc(threads, sizeof(Work));
  if (!strcmp(argv[1], "fma")) {
    for (int i = 0; i < threads; ++i)
      work[i].seconds = atof(argv[3]);
    run(fma_thread, work, threads);
    double total = 0;
    for (int i = 0; i < threads; ++i)
      total += work[i].flops / work[i].elapsed;
    printf("%.2f\n", total / 1e9);
  } else if (!strcmp(argv[1], "clock")) {
    for (int i = 0; i < threads; ++i)
      work[i].seconds = atof(argv[3]);
    run(clock_thread, work, threads);
    double total = 0;
    for (int i = 0; i < threads; ++i)
      total += work[i].flops / work[i].elapsed;
    printf("%.4f\n", total / threads / 1e9);
  } else if (!strcmp(argv[1], "copy")) {
    size_t bytes = (size_t)atof(argv[3]) * 1024 * 1024 / threads;
    for (int i = 0; i < threads; ++i) {
      work[i].bytes = bytes;
      work[i].src = malloc(bytes);
      work[i].dst = malloc(bytes);
      memset(work[i].src, 1, bytes);
      memset(work[i].dst, 0, bytes);
    }
    run(copy_thread, work, threads);
    double total = 0;
    for (int i = 0; i < threads; ++i)
      total += 2.0 * work[i].bytes / work[i].elapsed;
    printf("%.2f\n", total / 1e9);
  } else {
    return 2;
  }
  return 0;
}
