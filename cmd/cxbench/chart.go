package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"sort"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Point is one benchmark run at one population size.
type Point struct {
	People       int     // population size (x axis, log scale: 10k, 100k, 1M)
	EventsPerSec float64 // left y axis
	P99Millis    float64 // right y axis
}

// Chart geometry and colours. The plot area is the rectangle in which the
// data is drawn; the margins hold the title, legend, ticks and labels.
const (
	chartWidth  = 900
	chartHeight = 500

	chartPlotLeft   = 80
	chartPlotRight  = 815
	chartPlotTop    = 72
	chartPlotBottom = 435
)

var (
	chartColBackground = color.RGBA{0xff, 0xff, 0xff, 0xff}
	chartColAxis       = color.RGBA{0x33, 0x33, 0x33, 0xff}
	chartColGrid       = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	chartColText       = color.RGBA{0x20, 0x20, 0x20, 0xff}
	chartColThroughput = color.RGBA{0x1f, 0x77, 0xb4, 0xff} // blue
	chartColLatency    = color.RGBA{0xd6, 0x4b, 0x0e, 0xff} // orange
	chartColTargetTput = color.RGBA{0x5d, 0xa5, 0xda, 0xff} // light blue, dashed
	chartColTargetLat  = color.RGBA{0xf2, 0x9a, 0x5c, 0xff} // light orange, dashed
)

// WriteChart draws throughput (events/s, left axis) and p99 event-to-profile latency (ms, right axis)
// against population size (log x axis) and writes a PNG.
//
// Every run is drawn as a marker (circles for throughput, squares for
// latency) and each series is joined by a line through the per-size
// medians. Targets are dashed horizontal lines; a target that is NaN,
// infinite or not positive is not drawn. A p99 of +Inf (events not seen
// by the end of the step) is a square on the top edge, labelled "p99 inf:
// fell behind". Other NaN or infinite run values are
// skipped; zero values are drawn on the baseline. It returns an error for
// no points or a population that is not positive.
func WriteChart(w io.Writer, title string, points []Point, targetEventsPerSec, targetP99Millis float64) error {
	if w == nil {
		return errors.New("chart: nil writer")
	}
	img, err := chartRender(title, points, targetEventsPerSec, targetP99Millis)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("chart: encode png: %w", err)
	}
	return nil
}

// chartLayout maps data values to pixel coordinates.
type chartLayout struct {
	plot                  image.Rectangle
	xLo, xHi              float64 // log10(people)
	leftLo, leftHi        float64 // events/s
	rightLo, rightHi      float64 // ms
	xTicks                []float64
	leftTicks, rightTicks []float64
}

func (l *chartLayout) x(people float64) float64 {
	f := (math.Log10(people) - l.xLo) / (l.xHi - l.xLo)
	return float64(l.plot.Min.X) + f*float64(l.plot.Dx())
}

func (l *chartLayout) yLeft(v float64) float64 { return l.y(v, l.leftLo, l.leftHi) }

func (l *chartLayout) yRight(v float64) float64 { return l.y(v, l.rightLo, l.rightHi) }

func (l *chartLayout) y(v, lo, hi float64) float64 {
	f := (v - lo) / (hi - lo)
	return float64(l.plot.Max.Y) - f*float64(l.plot.Dy())
}

// chartSizeGroup holds the runs of one population size.
type chartSizeGroup struct {
	people    int
	tput, lat []float64 // finite values only
	medTput   float64   // NaN when no finite value
	medLat    float64
}

func chartValidate(points []Point) error {
	if len(points) == 0 {
		return errors.New("chart: no points to draw")
	}
	for i, p := range points {
		if p.People <= 0 {
			return fmt.Errorf("chart: point %d: people must be positive, got %d", i, p.People)
		}
	}
	return nil
}

func chartFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// groupBySize groups the runs by population size, ascending.
func chartGroupBySize(points []Point) []chartSizeGroup {
	byPeople := map[int]*chartSizeGroup{}
	for _, p := range points {
		g := byPeople[p.People]
		if g == nil {
			g = &chartSizeGroup{people: p.People}
			byPeople[p.People] = g
		}
		if chartFinite(p.EventsPerSec) {
			g.tput = append(g.tput, p.EventsPerSec)
		}
		if chartFinite(p.P99Millis) {
			g.lat = append(g.lat, p.P99Millis)
		}
	}
	groups := make([]chartSizeGroup, 0, len(byPeople))
	for _, g := range byPeople {
		g.medTput = chartMedian(g.tput)
		g.medLat = chartMedian(g.lat)
		groups = append(groups, *g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].people < groups[j].people })
	return groups
}

// median returns the median of vs, NaN when vs is empty.
func chartMedian(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1]/2 + s[n/2]/2
}

// newLayout computes the axis ranges and ticks of the chart.
func newChartLayout(points []Point, targetTput, targetLat float64) (*chartLayout, error) {
	l := &chartLayout{plot: image.Rect(chartPlotLeft, chartPlotTop, chartPlotRight, chartPlotBottom)}

	minP, maxP := points[0].People, points[0].People
	for _, p := range points {
		minP = min(minP, p.People)
		maxP = max(maxP, p.People)
	}
	lo, hi := math.Log10(float64(minP)), math.Log10(float64(maxP))
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	} else {
		pad := max(0.08*(hi-lo), 0.05)
		lo, hi = lo-pad, hi+pad
	}
	l.xLo, l.xHi = lo, hi
	l.xTicks = chartLogTicks(lo, hi, points)

	var tputs, lats []float64
	for _, p := range points {
		tputs = append(tputs, p.EventsPerSec)
		lats = append(lats, p.P99Millis)
	}
	var err error
	if l.leftLo, l.leftHi, l.leftTicks, err = chartLinearAxis(tputs, targetTput); err != nil {
		return nil, fmt.Errorf("chart: events/s axis: %w", err)
	}
	if l.rightLo, l.rightHi, l.rightTicks, err = chartLinearAxis(lats, targetLat); err != nil {
		return nil, fmt.Errorf("chart: latency axis: %w", err)
	}
	return l, nil
}

// linearAxis returns a range that includes zero, the finite values and a
// drawable target, rounded out to a nice tick step, and its ticks.
func chartLinearAxis(values []float64, target float64) (lo, hi float64, ticks []float64, err error) {
	lo, hi = 0, 0
	for _, v := range values {
		if chartFinite(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if chartDrawableTarget(target) {
		hi = max(hi, target)
	}
	if hi <= lo {
		hi = lo + 1
	}
	span := (hi - lo) * 1.08 // head room above the highest value
	step := chartNiceStep(span / 5)
	if !chartFinite(span) || !chartFinite(step) || step <= 0 {
		return 0, 0, nil, fmt.Errorf("values out of range (%g..%g)", lo, hi)
	}
	lo = math.Floor(lo/step) * step
	hi = math.Ceil((lo+span)/step) * step
	n := int(math.Round((hi - lo) / step))
	for i := 0; i <= n; i++ {
		ticks = append(ticks, lo+float64(i)*step)
	}
	return lo, hi, ticks, nil
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func chartNiceStep(raw float64) float64 {
	if raw <= 0 || !chartFinite(raw) {
		return raw
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f <= 1:
		return mag
	case f <= 2:
		return 2 * mag
	case f <= 5:
		return 5 * mag
	default:
		return 10 * mag
	}
}

// logTicks returns tick positions (people) for the log10 range lo..hi:
// powers of ten when at least two fall in range, else 1-2-5 steps, else
// the population sizes present in the data.
func chartLogTicks(lo, hi float64, points []Point) []float64 {
	var decades []float64
	for k := math.Ceil(lo); k <= hi; k++ {
		decades = append(decades, math.Pow(10, k))
	}
	if len(decades) >= 2 {
		return decades
	}
	var steps []float64
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, k)
			if lg := math.Log10(v); lg >= lo && lg <= hi {
				steps = append(steps, v)
			}
		}
	}
	if len(steps) >= 2 {
		return steps
	}
	var sizes []float64
	for _, p := range points {
		sizes = append(sizes, float64(p.People))
	}
	slices.Sort(sizes)
	return slices.Compact(sizes)
}

// formatSI formats v with a k, M or B suffix: 10000 → "10k", 1e6 → "1M".
func chartFormatSI(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.4gB", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.4gM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.4gk", v/1e3)
	case a < 1e-9:
		return "0"
	default:
		return fmt.Sprintf("%.4g", v)
	}
}

func chartDrawableTarget(v float64) bool { return chartFinite(v) && v > 0 }

// chartRender draws the chart into a new image.
func chartRender(title string, points []Point, targetTput, targetLat float64) (*image.RGBA, error) {
	if err := chartValidate(points); err != nil {
		return nil, err
	}
	l, err := newChartLayout(points, targetTput, targetLat)
	if err != nil {
		return nil, err
	}
	groups := chartGroupBySize(points)

	img := image.NewRGBA(image.Rect(0, 0, chartWidth, chartHeight))
	full := &chartCanvas{img: img, clip: img.Bounds()}
	full.fillRect(img.Bounds(), chartColBackground)
	// Data is clipped to the plot area plus room for half a marker.
	data := &chartCanvas{img: img, clip: l.plot.Inset(-5).Intersect(img.Bounds())}

	pl := l.plot
	// Grid and ticks.
	for _, t := range l.leftTicks {
		y := chartPx(l.yLeft(t))
		full.line(pl.Min.X, y, pl.Max.X, y, 1, chartColGrid, 0, 0)
		full.line(pl.Min.X-5, y, pl.Min.X, y, 1, chartColAxis, 0, 0)
		s := chartFormatSI(t)
		full.text(pl.Min.X-8-chartTextWidth(s), y+4, s, chartColText)
	}
	for _, t := range l.rightTicks {
		y := chartPx(l.yRight(t))
		full.line(pl.Max.X, y, pl.Max.X+5, y, 1, chartColAxis, 0, 0)
		full.text(pl.Max.X+8, y+4, chartFormatSI(t), chartColText)
	}
	for _, t := range l.xTicks {
		x := chartPx(l.x(t))
		full.line(x, pl.Min.Y, x, pl.Max.Y, 1, chartColGrid, 0, 0)
		full.line(x, pl.Max.Y, x, pl.Max.Y+5, 1, chartColAxis, 0, 0)
		s := chartFormatSI(t)
		full.text(x-chartTextWidth(s)/2, pl.Max.Y+19, s, chartColText)
	}
	// Axes: left, right and bottom.
	full.line(pl.Min.X, pl.Min.Y, pl.Min.X, pl.Max.Y, 1, chartColAxis, 0, 0)
	full.line(pl.Max.X, pl.Min.Y, pl.Max.X, pl.Max.Y, 1, chartColAxis, 0, 0)
	full.line(pl.Min.X, pl.Max.Y, pl.Max.X, pl.Max.Y, 1, chartColAxis, 0, 0)

	// Axis titles.
	full.text(pl.Min.X-chartTextWidth("events/s")/2, pl.Min.Y-8, "events/s", chartColThroughput)
	full.text(pl.Max.X-chartTextWidth("p99 ms")/2, pl.Min.Y-8, "p99 ms", chartColLatency)
	xTitle := "population (people, log scale); markers = runs, lines = median per size"
	full.text((pl.Min.X+pl.Max.X)/2-chartTextWidth(xTitle)/2, pl.Max.Y+40, xTitle, chartColText)

	// Targets.
	if chartDrawableTarget(targetTput) {
		y := chartPx(l.yLeft(targetTput))
		data.line(pl.Min.X, y, pl.Max.X, y, 2, chartColTargetTput, 8, 6)
	}
	if chartDrawableTarget(targetLat) {
		y := chartPx(l.yRight(targetLat))
		data.line(pl.Min.X, y, pl.Max.X, y, 2, chartColTargetLat, 8, 6)
	}

	// Median lines, then one marker per run.
	chartDrawMedians(data, groups, l.x, l.yLeft, func(g chartSizeGroup) float64 { return g.medTput }, chartColThroughput)
	chartDrawMedians(data, groups, l.x, l.yRight, func(g chartSizeGroup) float64 { return g.medLat }, chartColLatency)
	fellBehind := map[int]bool{} // x of sizes labelled already
	for _, p := range points {
		x := chartPx(l.x(float64(p.People)))
		if chartFinite(p.EventsPerSec) {
			data.disc(x, chartPx(l.yLeft(p.EventsPerSec)), 4, chartColThroughput)
		}
		switch {
		case chartFinite(p.P99Millis):
			data.square(x, chartPx(l.yRight(p.P99Millis)), 4, chartColLatency)
		case math.IsInf(p.P99Millis, 1):
			// Events still unseen at the end of the step: off the scale.
			// A square on the top edge, labelled once per size.
			data.square(x, pl.Min.Y+5, 4, chartColLatency)
			if !fellBehind[x] {
				fellBehind[x] = true
				label := "p99 inf: fell behind"
				full.text(min(x+8, pl.Max.X-chartTextWidth(label)), pl.Min.Y+18, label, chartColLatency)
			}
		}
	}

	// Title and legend.
	if title != "" {
		full.text(chartWidth/2-chartTextWidth(title)/2, 20, title, chartColText)
	}
	chartDrawLegend(full, targetTput, targetLat)
	return img, nil
}

// drawMedians joins the per-size medians that are finite.
func chartDrawMedians(c *chartCanvas, groups []chartSizeGroup, xf, yf func(float64) float64, med func(chartSizeGroup) float64, col color.RGBA) {
	havePrev := false
	var px0, py0 int
	for _, g := range groups {
		m := med(g)
		if !chartFinite(m) {
			continue
		}
		x, y := chartPx(xf(float64(g.people))), chartPx(yf(m))
		if havePrev {
			c.line(px0, py0, x, y, 2, col, 0, 0)
		}
		px0, py0, havePrev = x, y, true
	}
}

func chartDrawLegend(c *chartCanvas, targetTput, targetLat float64) {
	type entry struct {
		label  string
		col    color.RGBA
		marker string // "disc", "square" or "" (dashed line only)
	}
	entries := []entry{
		{"throughput (events/s)", chartColThroughput, "disc"},
		{"p99 latency (ms)", chartColLatency, "square"},
	}
	if chartDrawableTarget(targetTput) {
		entries = append(entries, entry{"target " + chartFormatSI(targetTput) + " events/s", chartColTargetTput, ""})
	}
	if chartDrawableTarget(targetLat) {
		entries = append(entries, entry{"target " + chartFormatSI(targetLat) + " ms", chartColTargetLat, ""})
	}
	const sample, gap, space = 28, 24, 8
	total := 0
	for i, e := range entries {
		if i > 0 {
			total += gap
		}
		total += sample + space + chartTextWidth(e.label)
	}
	x, y := chartWidth/2-total/2, 40
	for _, e := range entries {
		if e.marker == "" {
			c.line(x, y, x+sample, y, 2, e.col, 6, 4)
		} else {
			c.line(x, y, x+sample, y, 2, e.col, 0, 0)
			if e.marker == "disc" {
				c.disc(x+sample/2, y, 4, e.col)
			} else {
				c.square(x+sample/2, y, 4, e.col)
			}
		}
		x += sample + space
		c.text(x, y+4, e.label, chartColText)
		x += chartTextWidth(e.label) + gap
	}
}

// px rounds a pixel coordinate, clamping wild values so that line loops
// stay bounded.
func chartPx(v float64) int {
	if math.IsNaN(v) {
		return -1 << 15
	}
	return int(math.Round(max(-1<<15, min(1<<15, v))))
}

// chartCanvas draws on an image, clipped to a rectangle.
type chartCanvas struct {
	img  *image.RGBA
	clip image.Rectangle
}

func (c *chartCanvas) set(x, y int, col color.RGBA) {
	if image.Pt(x, y).In(c.clip) {
		c.img.SetRGBA(x, y, col)
	}
}

func (c *chartCanvas) fillRect(r image.Rectangle, col color.RGBA) {
	r = r.Intersect(c.clip)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c.img.SetRGBA(x, y, col)
		}
	}
}

// line draws a Bresenham line from (x0, y0) to (x1, y1) with a square
// (width ≤ 2) or round brush. With dashOn > 0 it is dashed: dashOn pixels
// drawn, dashOff skipped, counted along the major axis.
func (c *chartCanvas) line(x0, y0, x1, y1, width int, col color.RGBA, dashOn, dashOff int) {
	// Skip lines that lie entirely on one side of the clip rectangle.
	m := width
	if (x0 < c.clip.Min.X-m && x1 < c.clip.Min.X-m) || (x0 >= c.clip.Max.X+m && x1 >= c.clip.Max.X+m) ||
		(y0 < c.clip.Min.Y-m && y1 < c.clip.Min.Y-m) || (y0 >= c.clip.Max.Y+m && y1 >= c.clip.Max.Y+m) {
		return
	}
	dx, sx := chartAbs(x1-x0), chartSign(x1-x0)
	dy, sy := -chartAbs(y1-y0), chartSign(y1-y0)
	err := dx + dy
	for step := 0; ; step++ {
		if dashOn <= 0 || step%(dashOn+dashOff) < dashOn {
			c.brush(x0, y0, width, col)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func (c *chartCanvas) brush(x, y, width int, col color.RGBA) {
	if width <= 2 {
		for j := range max(width, 1) {
			for i := range max(width, 1) {
				c.set(x+i, y+j, col)
			}
		}
		return
	}
	c.disc(x, y, width/2, col)
}

// disc draws a filled circle of radius r centred on (cx, cy).
func (c *chartCanvas) disc(cx, cy, r int, col color.RGBA) {
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			if x*x+y*y <= r*r+r {
				c.set(cx+x, cy+y, col)
			}
		}
	}
}

// square draws a filled square of half side r centred on (cx, cy).
func (c *chartCanvas) square(cx, cy, r int, col color.RGBA) {
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			c.set(cx+x, cy+y, col)
		}
	}
}

// text draws s with its baseline starting at (x, y).
func (c *chartCanvas) text(x, y int, s string, col color.RGBA) {
	d := &font.Drawer{
		Dst:  c.img,
		Src:  image.NewUniform(col),
		Face: basicfont.Face7x13,
		Dot:  fixed.P(x, y),
	}
	d.DrawString(s)
}

func chartTextWidth(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

func chartAbs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func chartSign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
