//! The seam between a scan and what it feeds: every parsed, selected record goes to a
//! [`RecordSink`] (a partial result, or a filter in front of one).

use super::geo::GeoInfo;
use super::LogRecord;

/// Where a scan puts the records its condition selected.
pub trait RecordSink {
    /// Counts one selected record.
    fn add(&mut self, record: &LogRecord<'_>);

    /// Counts one selected record whose client the IP database placed (called instead of
    /// [`add`](Self::add) when the condition needs geography); kinds that do not use the
    /// geography count it as `add` does.
    fn add_located(&mut self, record: &LogRecord<'_>, _geo: &GeoInfo) {
        self.add(record);
    }
}
