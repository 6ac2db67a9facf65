// A bounded byte buffer with read and write cursors over one contiguous block. Blocks come
// from a per-worker BufferPool and go back when the buffer empties, so an idle keep-alive
// connection holds no buffer memory at all.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace hop::core {

class BufferPool {
 public:
  explicit BufferPool(size_t block_size = 16 * 1024, size_t max_free = 1024)
      : block_size_(block_size), max_free_(max_free) {}
  ~BufferPool() {
    for (char* b : free_) delete[] b;
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  char* get(size_t size) {
    if (size == block_size_ && !free_.empty()) {
      char* b = free_.back();
      free_.pop_back();
      return b;
    }
    return new char[size];
  }
  void put(char* block, size_t size) {
    if (size == block_size_ && free_.size() < max_free_) free_.push_back(block);
    else delete[] block;
  }
  size_t block_size() const { return block_size_; }

 private:
  size_t block_size_;
  size_t max_free_;  // bound on cached blocks: a burst's memory is returned after it
  std::vector<char*> free_;
};

class Buffer {
 public:
  Buffer(BufferPool& pool, size_t capacity) : pool_(&pool), capacity_(capacity) {}
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  const char* data() const { return data_ + rpos_; }
  size_t size() const { return wpos_ - rpos_; }
  bool empty() const { return wpos_ == rpos_; }
  size_t capacity() const { return capacity_; }
  std::string_view view() const { return {data(), size()}; }

  // Space after the written bytes; compacts and allocates the block when needed.
  char* write_ptr() {
    ensure();
    if (wpos_ == capacity_ && rpos_ > 0) compact();
    return data_ + wpos_;
  }
  size_t writable() {
    ensure();
    if (wpos_ == capacity_ && rpos_ > 0) compact();
    return capacity_ - wpos_;
  }
  void commit(size_t n) { wpos_ += n; }
  void consume(size_t n) {
    rpos_ += n;
    if (rpos_ == wpos_) rpos_ = wpos_ = 0;
  }
  // Appends as much of s as fits; returns the bytes taken.
  size_t append(std::string_view s) {
    size_t room = writable();
    if (room < s.size() && rpos_ > 0) {
      compact();
      room = capacity_ - wpos_;
    }
    size_t n = s.size() < room ? s.size() : room;
    std::memcpy(data_ + wpos_, s.data(), n);
    wpos_ += n;
    return n;
  }
  bool full() const { return data_ && rpos_ == 0 && wpos_ == capacity_; }
  void compact() {
    if (rpos_ == 0) return;
    std::memmove(data_, data_ + rpos_, wpos_ - rpos_);
    wpos_ -= rpos_;
    rpos_ = 0;
  }
  // Returns the block to the pool if nothing is buffered.
  void release_if_empty() {
    if (data_ && rpos_ == wpos_) release();
  }
  void clear() { rpos_ = wpos_ = 0; }

 private:
  void ensure() {
    if (!data_) data_ = pool_->get(capacity_);
  }
  void release() {
    if (data_) pool_->put(data_, capacity_);
    data_ = nullptr;
    rpos_ = wpos_ = 0;
  }
  BufferPool* pool_;
  char* data_ = nullptr;
  size_t capacity_;
  size_t rpos_ = 0;
  size_t wpos_ = 0;
};

}  // namespace hop::core
