// Placeholder for the sharded-accept listener options (issue 5).
#pragma once
