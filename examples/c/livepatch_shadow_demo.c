/*
 * livepatch_shadow_demo.c - the idea of the kernel's shadow-variable samples
 * (samples/livepatch/livepatch-shadow-{mod,fix1,fix2}.c) in a userspace
 * program, on the klp_shadow_* functions of libklp_shadow.
 *
 * A "service" keeps a list of dummy objects: one thread allocates a dummy
 * every tick, another frees the expired ones every few ticks. It has a bug:
 * each allocation also allocates a small buffer and forgets the pointer, so
 * the buffer leaks. struct dummy cannot change (objects are in flight,
 * other code depends on its layout), so the fixes are applied "live" by
 * swapping the service's function table while both threads run, the way a
 * livepatch replaces functions:
 *
 *   fix 1: the allocator saves the buffer's pointer in a shadow variable
 *          <dummy, SV_LEAK>, and the free routine releases it through a
 *          destructor. Dummies allocated before fix 1 still leak.
 *   fix 2: the expiry check attaches a counter <dummy, SV_COUNTER> to every
 *          dummy in flight (klp_shadow_get_or_alloc: created on first
 *          check, zeroed), and the free routine reports and detaches it.
 *
 * On "unload" the remaining shadow variables are freed with
 * klp_shadow_free_all(), like the fix modules' exit functions.
 *
 * Build and run: see README.md next to this file.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "klp_shadow.h"

/* Shadow variable ids */
#define SV_LEAK 1
#define SV_COUNTER 2

/* Timing, in ticks of TICK_MS milliseconds */
#define TICK_MS 10
#define CLEANUP_PERIOD 3                    /* free expired dummies every 3 ticks */
#define EXPIRE_PERIOD (4 * CLEANUP_PERIOD)  /* a dummy lives 12 ticks */
#define FIX1_AT 20                          /* ticks before fix 1 is applied */
#define FIX2_AT 40                          /* ticks before fix 2 is applied */
#define UNLOAD_AT 60                        /* ticks before the service stops */

struct dummy {
    struct dummy *next;
    long expires; /* tick */
};

/* The service's state: the list of dummies and the current tick. */
static struct dummy *dummies;
static pthread_mutex_t dummies_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long now;
static atomic_bool stopping;

/* What happened, for the summary. */
static atomic_long in_flight;         /* dummies allocated and not yet freed */
static atomic_long leaked;            /* buffers lost */
static atomic_long leaks_prevented;   /* buffers released by a shadow dtor */
static atomic_long counters_reported; /* SV_COUNTER variables seen at free */

/* The functions a livepatch can replace. */
struct service_ops {
    const char *name;
    struct dummy *(*dummy_alloc)(void);
    void (*dummy_free)(struct dummy *d);
    bool (*dummy_check)(struct dummy *d, long tick);
};

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the original, buggy service ---------------------------------------- */

static struct dummy *dummy_alloc(void)
{
    struct dummy *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->expires = atomic_load(&now) + EXPIRE_PERIOD;

    /* Oops, forgot to save leak! (The volatile store keeps the compiler from
     * removing the unused allocation, and with it the bug.) */
    int *leak = calloc(1, sizeof(*leak));
    if (leak)
        *(volatile int *)leak = 1;

    printf("dummy_alloc: dummy @ %p, expires @ %ld\n", (void *)d, d->expires);
    return d;
}

static void dummy_free(struct dummy *d)
{
    printf("dummy_free: dummy @ %p, expired = %ld\n", (void *)d, d->expires);
    atomic_fetch_add(&leaked, 1);
    free(d);
}

static bool dummy_check(struct dummy *d, long tick)
{
    return tick > d->expires;
}

static const struct service_ops buggy_ops = {"original", dummy_alloc, dummy_free, dummy_check};

/* ---- fix 1: keep the leaked pointer in a shadow variable ---------------- */

/* Store the pointer that ctor_data points to: the constructor runs before the
 * variable becomes visible to anyone else. */
static int shadow_leak_ctor(void *obj, void *shadow_data, void *ctor_data)
{
    (void)obj;
    if (!ctor_data)
        return -22; /* -EINVAL */
    *(int **)shadow_data = *(int **)ctor_data;
    return 0;
}

static struct dummy *fix1_dummy_alloc(void)
{
    struct dummy *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->expires = atomic_load(&now) + EXPIRE_PERIOD;

    /* Patch: save the extra memory location into a SV_LEAK shadow variable.
     * The patched dummy_free fetches it to release the buffer. */
    int *leak = calloc(1, sizeof(*leak));
    if (!leak) {
        free(d);
        return NULL;
    }
    int **shadow_leak = klp_shadow_alloc(d, SV_LEAK, sizeof(leak), 0, shadow_leak_ctor, &leak);
    if (!shadow_leak) {
        fprintf(stderr, "fix1_dummy_alloc: no shadow variable for dummy @ %p\n", (void *)d);
        free(leak);
        free(d);
        return NULL;
    }

    printf("fix1_dummy_alloc: dummy @ %p, expires @ %ld\n", (void *)d, d->expires);
    return d;
}

/* Runs inside klp_shadow_free*(), while the shadow data is still valid. */
static void shadow_leak_dtor(void *obj, void *shadow_data)
{
    int **shadow_leak = shadow_data;
    printf("shadow_leak_dtor: dummy @ %p, prevented leak @ %p\n", obj, (void *)*shadow_leak);
    free(*shadow_leak);
    atomic_fetch_add(&leaks_prevented, 1);
}

static void fix1_dummy_free(struct dummy *d)
{
    /* Patch: detach and free the SV_LEAK shadow variable. Dummies allocated
     * before the fix have none: their buffer is lost. */
    if (klp_shadow_get(d, SV_LEAK)) {
        klp_shadow_free(d, SV_LEAK, shadow_leak_dtor);
    } else {
        printf("fix1_dummy_free: dummy @ %p leaked!\n", (void *)d);
        atomic_fetch_add(&leaked, 1);
    }
    free(d);
}

static const struct service_ops fix1_ops = {"fix 1", fix1_dummy_alloc, fix1_dummy_free, dummy_check};

/* ---- fix 2: a new per-object counter on objects already in flight ------- */

static bool fix2_dummy_check(struct dummy *d, long tick)
{
    /* Patch: attach a SV_COUNTER variable to dummies that have none yet
     * (zeroed, no constructor needed), and count the checks. Only the
     * cleanup thread touches the counter, so it needs no lock. */
    int *count = klp_shadow_get_or_alloc(d, SV_COUNTER, sizeof(*count), 0, NULL, NULL);
    if (count)
        *count += 1;
    return tick > d->expires;
}

static void fix2_dummy_free(struct dummy *d)
{
    int *count = klp_shadow_get(d, SV_COUNTER);
    if (count) {
        printf("fix2_dummy_free: dummy @ %p, check counter = %d\n", (void *)d, *count);
        atomic_fetch_add(&counters_reported, 1);
        klp_shadow_free(d, SV_COUNTER, NULL);
    }
    /* Patch: the leak fix of fix 1, carried over. */
    fix1_dummy_free(d);
}

static const struct service_ops fix2_ops = {"fix 2", fix1_dummy_alloc, fix2_dummy_free, fix2_dummy_check};

/* The live function table: the "livepatch" swaps it under the threads. */
static _Atomic(const struct service_ops *) ops = &buggy_ops;

/* ---- the service's two workers ------------------------------------------ */

static void *alloc_worker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stopping)) {
        struct dummy *d = atomic_load(&ops)->dummy_alloc();
        if (d) {
            atomic_fetch_add(&in_flight, 1);
            pthread_mutex_lock(&dummies_lock);
            d->next = dummies;
            dummies = d;
            pthread_mutex_unlock(&dummies_lock);
        }
        sleep_ms(TICK_MS);
    }
    return NULL;
}

static void cleanup_expired(long tick)
{
    const struct service_ops *o = atomic_load(&ops);
    pthread_mutex_lock(&dummies_lock);
    for (struct dummy **p = &dummies; *p;) {
        struct dummy *d = *p;
        if (o->dummy_check(d, tick)) {
            *p = d->next;
            o->dummy_free(d);
            atomic_fetch_sub(&in_flight, 1);
        } else {
            p = &d->next;
        }
    }
    pthread_mutex_unlock(&dummies_lock);
}

static void *cleanup_worker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stopping)) {
        sleep_ms(CLEANUP_PERIOD * TICK_MS);
        long tick = atomic_load(&now);
        printf("cleanup: tick = %ld, %ld dummies in flight\n", tick, atomic_load(&in_flight));
        cleanup_expired(tick);
    }
    return NULL;
}

int main(void)
{
    /* One line per printf even with two threads printing. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    pthread_t alloc_thread, cleanup_thread;
    if (pthread_create(&alloc_thread, NULL, alloc_worker, NULL) ||
        pthread_create(&cleanup_thread, NULL, cleanup_worker, NULL)) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }

    for (long tick = 1; tick <= UNLOAD_AT; tick++) {
        sleep_ms(TICK_MS);
        atomic_store(&now, tick);
        if (tick == FIX1_AT || tick == FIX2_AT) {
            const struct service_ops *next = tick == FIX1_AT ? &fix1_ops : &fix2_ops;
            printf("=== tick %ld: applying %s (%ld dummies in flight) ===\n", tick, next->name,
                   atomic_load(&in_flight));
            atomic_store(&ops, next);
        }
    }

    atomic_store(&stopping, true);
    pthread_join(alloc_thread, NULL);
    pthread_join(cleanup_thread, NULL);

    /* Service exit: free the residual dummies with the live functions. */
    printf("=== unload: freeing %ld residual dummies ===\n", atomic_load(&in_flight));
    const struct service_ops *o = atomic_load(&ops);
    while (dummies) {
        struct dummy *d = dummies;
        dummies = d->next;
        o->dummy_free(d);
        atomic_fetch_sub(&in_flight, 1);
    }
    /* The fixes' exit: nothing should be left, but free_all makes sure. */
    klp_shadow_free_all(SV_LEAK, shadow_leak_dtor);
    klp_shadow_free_all(SV_COUNTER, NULL);

    printf("summary: %ld buffers leaked before fix 1, %ld leaks prevented, "
           "%ld check counters reported, %ld dummies in flight\n",
           atomic_load(&leaked), atomic_load(&leaks_prevented), atomic_load(&counters_reported),
           atomic_load(&in_flight));
    return atomic_load(&in_flight) == 0 && atomic_load(&leaks_prevented) > 0 ? 0 : 1;
}
