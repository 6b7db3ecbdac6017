// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// A statsd (npm `statsd`) backend for the push tests: every flush, what the
// daemon aggregated (counters, gauges, timer_data) as one JSON line appended
// to config.fileBackend.path. The test reads the daemon's own aggregates back.
'use strict';
const fs = require('fs');

exports.init = function (startupTime, config, events, logger) {
	const path = config.fileBackend && config.fileBackend.path;
	if (!path)
		return false;
	events.on('flush', function (ts, metrics) {
		const out = {
			ts: ts,
			counters: metrics.counters,
			gauges: metrics.gauges,
			timer_data: metrics.timer_data,
			timers: metrics.timers,
		};
		fs.appendFileSync(path, JSON.stringify(out) + '\n');
	});
	return true;
};
