// The sync primitives' micro benchmarks (broadcast, mutex, semaphore, mpmc channel) belong to the
// sync work and replace this file. bench/micro_compare.py looks for these names, each one
// operation per benchmark iteration, to put them beside tokio's:
//   sync_broadcast_send_8_subscribers   one send, then each of 8 subscribers receives it
//   sync_mutex_lock_unlock              uncontended lock + unlock, one task
//   sync_semaphore_acquire_release      acquire one permit + release, one task
//   sync_mpmc_two_workers               two producers, two consumers on two threads; use
//                                       SetItemsProcessed(messages) and UseRealTime()
// Until then it defines no benchmark, so the micro binary builds with or without it.
#include <benchmark/benchmark.h>

#include <corio/corio.hpp>
