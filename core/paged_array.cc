#include "core/paged_array.h"

#include <atomic>
#include <new>

namespace simcore::core {
namespace {

void* new_page(size_t bytes) { return ::operator new(bytes); }
void delete_page(void* p, size_t bytes) noexcept { ::operator delete(p, bytes); }

constexpr PageMemory kDefault{new_page, delete_page};
std::atomic<const PageMemory*> installed{&kDefault};

}  // namespace

const PageMemory& default_page_memory() noexcept { return kDefault; }

void set_page_memory(const PageMemory& m) noexcept {
  installed.store(&m, std::memory_order_release);
}

const PageMemory& page_memory() noexcept { return *installed.load(std::memory_order_acquire); }

}  // namespace simcore::core
