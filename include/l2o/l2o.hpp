// The whole public API of l2o.
#pragma once

#include "l2o/baselines.hpp"
#include "l2o/bfloat16.hpp"
#include "l2o/build.hpp"
#include "l2o/checkpoint.hpp"
#include "l2o/config.hpp"
#include "l2o/data.hpp"
#include "l2o/device.hpp"
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "l2o/meta.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/plot.hpp"
#include "l2o/problem.hpp"
#include "l2o/train.hpp"
#include "l2o/version.hpp"
#include "l2o/weights.hpp"
