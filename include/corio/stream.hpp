// The stream helpers in one include: buffered_reader, buffered_writer, write_all_vectored,
// copy_bidirectional, split. Each also has its own header under corio/io/.
#pragma once

#include <corio/io/buffered_reader.hpp>
#include <corio/io/buffered_writer.hpp>
#include <corio/io/copy.hpp>
#include <corio/io/split.hpp>
#include <corio/io/stream_error.hpp>
#include <corio/io/vectored.hpp>
