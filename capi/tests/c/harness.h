/*
 * Test harness for the klp_shadow C ABI. One executable holds every test;
 * `klp_tests NAME` runs one, `klp_tests all` runs them all in one process
 * (the tests share the process-wide table, so each uses its own ids).
 *
 * Protocol with the Rust driver (capi/tests/c_tests.rs): exit status 0 means
 * the test passed; a failed CHECK prints "CHECK FAILED file:line: expr" and
 * exits 1. Each line the library is expected to print on stderr is announced
 * on stdout as "expect-stderr: <line>"; the driver compares the two.
 */
#ifndef KLP_TESTS_HARNESS_H
#define KLP_TESTS_HARNESS_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "klp_shadow.h"

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            printf("CHECK FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            fflush(stdout);                                                      \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Announce the stderr line of klp_shadow_alloc() on an existing <obj, id>. */
void expect_duplicate(void *obj, unsigned long id);
/* Announce the stderr line of an allocator whose ctor returned err. */
void expect_ctor_failed(void *obj, unsigned long id, int err);

/* Whether data[0..size) is all zero. */
int all_zero(const void *data, size_t size);

/* The tests, one per semantic row of the C ABI (see test_*.c). */
void test_get_absent(void);
void test_alloc_zeroed_aligned(void);
void test_size_zero(void);
void test_stable_address(void);
void test_ctor_once(void);
void test_get_or_alloc_ignores_args(void);
void test_ctor_failure(void);
void test_duplicate(void);
void test_out_of_memory(void);
void test_free_dtor(void);
void test_free_all(void);
void test_reentrant(void);
void test_kernel_selftest(void);
void test_threads_get_or_alloc(void);
void test_threads_alloc(void);
void test_threads_get_vs_free(void);

#endif /* KLP_TESTS_HARNESS_H */
