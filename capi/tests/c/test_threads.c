/* Multi-threaded tests: creators racing on shared keys, get racing free. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "harness.h"

enum {
    THREADS = 8,
    PARENTS = 16,
    IDS = 2,
    KEYS = PARENTS * IDS,
    ROUNDS = 40,
    ID_RACE = 0x2001, /* and 0x2002 */
    ID_ALLOC_RACE = 0x2101,
    ID_GET_FREE = 0x2201,
};

static long parents[PARENTS];
static pthread_barrier_t start;

static unsigned long key_id(int key) { return ID_RACE + (unsigned long)(key % IDS); }
static void *key_obj(int key) { return &parents[key / IDS]; }

/* Per round: ctor calls per key, and what each thread got. */
static atomic_int ctor_calls[KEYS];
static void *seen[THREADS][KEYS];

struct key_data {
    int key;
    int round;
    char payload[48];
};

static int current_round;

static int race_ctor(void *obj, void *data, void *ctor_data)
{
    int key = *(const int *)ctor_data;
    CHECK(obj == key_obj(key));
    atomic_fetch_add(&ctor_calls[key], 1);
    struct key_data *d = data;
    CHECK(d->key == 0 && d->round == 0);
    /* widen the window in which the others must wait */
    for (int i = 0; i < 3; i++)
        sched_yield();
    d->key = key;
    d->round = current_round;
    memset(d->payload, 'x', sizeof(d->payload));
    return 0;
}

static void *race_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    /* every thread walks the keys from a different place */
    for (int n = 0; n < KEYS; n++) {
        int key = (n + t * 5) % KEYS;
        struct key_data *d = klp_shadow_get_or_alloc(key_obj(key), key_id(key),
                                                     sizeof(struct key_data), 0,
                                                     race_ctor, &key);
        CHECK(d != NULL);
        /* whoever ran the ctor, its writes are visible here */
        CHECK(d->key == key && d->round == current_round);
        CHECK(d->payload[sizeof(d->payload) - 1] == 'x');
        seen[t][key] = d;
    }
    return NULL;
}

static atomic_int race_dtor_calls;

static void race_dtor(void *obj, void *data)
{
    (void)obj, (void)data;
    atomic_fetch_add(&race_dtor_calls, 1);
}

void test_threads_get_or_alloc(void)
{
    pthread_t threads[THREADS];

    for (current_round = 1; current_round <= ROUNDS; current_round++) {
        for (int k = 0; k < KEYS; k++)
            atomic_store(&ctor_calls[k], 0);
        CHECK(pthread_barrier_init(&start, NULL, THREADS) == 0);
        for (int t = 0; t < THREADS; t++)
            CHECK(pthread_create(&threads[t], NULL, race_thread, (void *)(intptr_t)t) == 0);
        for (int t = 0; t < THREADS; t++)
            CHECK(pthread_join(threads[t], NULL) == 0);
        pthread_barrier_destroy(&start);

        for (int k = 0; k < KEYS; k++) {
            CHECK(atomic_load(&ctor_calls[k]) == 1);
            for (int t = 1; t < THREADS; t++)
                CHECK(seen[t][k] == seen[0][k]);
            CHECK(klp_shadow_get(key_obj(k), key_id(k)) == seen[0][k]);
        }
        atomic_store(&race_dtor_calls, 0);
        for (int id = 0; id < IDS; id++)
            klp_shadow_free_all(ID_RACE + (unsigned long)id, race_dtor);
        CHECK(atomic_load(&race_dtor_calls) == KEYS);
    }
}

/* klp_shadow_alloc racing: one winner per key, every loser gets NULL. */
enum { ALLOC_KEYS = 8 };
static char alloc_parents[ALLOC_KEYS];
static void *alloc_won[THREADS][ALLOC_KEYS];

static void *alloc_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    for (int n = 0; n < ALLOC_KEYS; n++) {
        int k = (n + t) % ALLOC_KEYS;
        void *d = klp_shadow_alloc(&alloc_parents[k], ID_ALLOC_RACE, 16, 0, NULL, NULL);
        alloc_won[t][k] = d;
        if (d == NULL)
            expect_duplicate(&alloc_parents[k], ID_ALLOC_RACE);
    }
    return NULL;
}

void test_threads_alloc(void)
{
    pthread_t threads[THREADS];
    CHECK(pthread_barrier_init(&start, NULL, THREADS) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&threads[t], NULL, alloc_thread, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_join(threads[t], NULL) == 0);
    pthread_barrier_destroy(&start);

    for (int k = 0; k < ALLOC_KEYS; k++) {
        int winners = 0;
        for (int t = 0; t < THREADS; t++) {
            if (alloc_won[t][k] != NULL) {
                winners++;
                CHECK(klp_shadow_get(&alloc_parents[k], ID_ALLOC_RACE) == alloc_won[t][k]);
            }
        }
        CHECK(winners == 1);
    }
    klp_shadow_free_all(ID_ALLOC_RACE, NULL);
}

/* Readers calling klp_shadow_get while one thread allocates and frees the
 * same key. The readers do not touch the data (the API forbids using it
 * after a concurrent free); the point is the table's own memory safety. */
enum { GET_FREE_CYCLES = 20000, READERS = THREADS - 1 };
static int get_free_parent;
static atomic_int writer_done;
static atomic_long dtor_seen;

static int get_free_ctor(void *obj, void *data, void *ctor_data)
{
    (void)obj, (void)ctor_data;
    *(long *)data = 0x5eed;
    return 0;
}

static void get_free_dtor(void *obj, void *data)
{
    CHECK(obj == &get_free_parent);
    CHECK(*(long *)data == 0x5eed);
    atomic_fetch_add(&dtor_seen, 1);
}

static void *writer_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < GET_FREE_CYCLES; i++) {
        CHECK(klp_shadow_alloc(&get_free_parent, ID_GET_FREE, sizeof(long), 0, get_free_ctor, NULL) != NULL);
        klp_shadow_free(&get_free_parent, ID_GET_FREE, get_free_dtor);
    }
    atomic_store(&writer_done, 1);
    return NULL;
}

static void *reader_thread(void *arg)
{
    long *hits = arg;
    pthread_barrier_wait(&start);
    while (!atomic_load(&writer_done))
        if (klp_shadow_get(&get_free_parent, ID_GET_FREE) != NULL)
            ++*hits;
    return NULL;
}

void test_threads_get_vs_free(void)
{
    pthread_t writer, readers[READERS];
    long hits[READERS] = {0};
    CHECK(pthread_barrier_init(&start, NULL, READERS + 1) == 0);
    CHECK(pthread_create(&writer, NULL, writer_thread, NULL) == 0);
    for (int r = 0; r < READERS; r++)
        CHECK(pthread_create(&readers[r], NULL, reader_thread, &hits[r]) == 0);
    CHECK(pthread_join(writer, NULL) == 0);
    for (int r = 0; r < READERS; r++)
        CHECK(pthread_join(readers[r], NULL) == 0);
    pthread_barrier_destroy(&start);
    CHECK(atomic_load(&dtor_seen) == GET_FREE_CYCLES);
    CHECK(klp_shadow_get(&get_free_parent, ID_GET_FREE) == NULL);
}
